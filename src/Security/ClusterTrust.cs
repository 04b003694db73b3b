using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace CnnCluster.Security;

/// <summary>
/// Who belongs to the cluster: a peer is a member when its certificate chains to the cluster's own
/// authority (the CA of <see cref="ClusterSecrets"/>), never to the system's roots. One instance serves the
/// three transports that leave a process: Akka remoting (mutual TLS through DotNetty), the data plane
/// and pbm (SslStream). Between nodes, which all present the same node certificate, a host name says nothing
/// more than the chain does: there only the chain and the key usage are checked. A client that connects to a
/// name a person gave (pbm) checks that the certificate names it too, as a browser with the CA would.
/// Loaded from CLUSTER_SECRETS, the folder `coordinator secrets` writes.
/// </summary>
public sealed class ClusterTrust
{
    private ClusterTrust(X509Certificate2 authority, X509Certificate2? certificate, string folder)
    {
        Authority = authority;
        Certificate = certificate;
        Folder = folder;
    }

    /// <summary>The cluster's CA certificate (public part only).</summary>
    public X509Certificate2 Authority { get; }

    /// <summary>This node's certificate with its private key (null for a client that only checks servers, <see cref="AuthorityOnly"/>).</summary>
    public X509Certificate2? Certificate { get; }

    /// <summary>A client's trust (pbm): checks that servers chain to the authority in <paramref name="authorityPath"/> and presents no certificate.</summary>
    public static ClusterTrust AuthorityOnly(string authorityPath)
    {
        try
        {
            return new ClusterTrust(X509CertificateLoader.LoadCertificateFromFile(authorityPath), null, Path.GetDirectoryName(Path.GetFullPath(authorityPath))!);
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"cannot read the cluster's CA certificate {authorityPath}: {e.Message.ReplaceLineEndings(" ").Trim()}");
        }
    }

    /// <summary>Where the secrets were read from.</summary>
    public string Folder { get; }

    /// <summary>The node's trust from <paramref name="folder"/> (<see cref="ClusterSecrets.AuthorityFile"/>, <see cref="ClusterSecrets.NodeFile"/>).</summary>
    public static ClusterTrust Load(string folder)
    {
        string authorityPath = Path.Combine(folder, ClusterSecrets.AuthorityFile);
        string nodePath = Path.Combine(folder, ClusterSecrets.NodeFile);
        foreach (string path in new[] { authorityPath, nodePath })
        {
            if (!File.Exists(path))
            {
                throw new ArgumentException($"CLUSTER_SECRETS={folder} has no {Path.GetFileName(path)}: create the folder with `coordinator secrets --out {folder}`");
            }
        }

        try
        {
            X509Certificate2 authority = X509CertificateLoader.LoadCertificateFromFile(authorityPath);
            X509Certificate2 node = X509CertificateLoader.LoadPkcs12FromFile(nodePath, password: null, X509KeyStorageFlags.EphemeralKeySet);
            if (!node.HasPrivateKey)
            {
                throw new ArgumentException($"{nodePath} holds no private key: create the folder again with `coordinator secrets --out {folder}`");
            }

            var trust = new ClusterTrust(authority, node, folder);
            if (!trust.IsMember(node, out string why))
            {
                throw new ArgumentException($"{nodePath} is not signed by {authorityPath} ({why}): create the folder again with `coordinator secrets --out {folder}`");
            }

            return trust;
        }
        catch (CryptographicException e)
        {
            throw new ArgumentException($"CLUSTER_SECRETS={folder}: cannot read the certificates ({e.Message.ReplaceLineEndings(" ").Trim()}); create the folder again with `coordinator secrets --out {folder}`");
        }
    }

    /// <summary>CLUSTER_SECRETS' trust, or null when the variable is not set.</summary>
    public static ClusterTrust? FromEnvironment(Func<string, string?>? env = null)
    {
        env ??= Environment.GetEnvironmentVariable;
        string? folder = env("CLUSTER_SECRETS");
        return string.IsNullOrWhiteSpace(folder) ? null : Load(folder.Trim());
    }

    /// <summary>
    /// True when <paramref name="certificate"/> chains to the cluster's authority (and only to it), is in
    /// its validity period and may authenticate both ends of a connection.
    /// </summary>
    public bool IsMember(X509Certificate? certificate, out string why)
    {
        if (certificate is null)
        {
            why = "no certificate was presented";
            return false;
        }

        X509Certificate2 presented = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(Authority);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid(ServerAuthentication));
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid(ClientAuthentication));
        if (!chain.Build(presented))
        {
            why = $"'{presented.Subject}' does not chain to the cluster's authority: " + string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct());
            return false;
        }

        X509Certificate2 root = chain.ChainElements[^1].Certificate;
        if (!root.RawDataMemory.Span.SequenceEqual(Authority.RawDataMemory.Span))
        {
            why = $"'{presented.Subject}' chains to '{root.Subject}', not to the cluster's authority";
            return false;
        }

        why = "";
        return true;
    }

    /// <summary>For a server end (data plane, pbm): present the node certificate; ask for a client's when <paramref name="mutual"/>.</summary>
    public SslServerAuthenticationOptions ServerOptions(bool mutual, Action<string>? rejected = null) => new()
    {
        ServerCertificate = Certificate ?? throw new InvalidOperationException("a server needs the node certificate"),
        ClientCertificateRequired = mutual,
        EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        RemoteCertificateValidationCallback = mutual ? (_, certificate, _, _) => Accept(certificate, rejected) : null,
    };

    /// <summary>
    /// For a client end: check the server against the authority (and, with <paramref name="checkName"/>, that its
    /// certificate names <paramref name="targetHost"/>); present the node certificate when <paramref name="mutual"/>.
    /// </summary>
    public SslClientAuthenticationOptions ClientOptions(string targetHost, bool mutual, Action<string>? rejected = null, bool checkName = false) => new()
    {
        TargetHost = targetHost,
        ClientCertificates = mutual ? new X509CertificateCollection { Certificate ?? throw new InvalidOperationException("mutual TLS needs the node certificate") } : null,
        LocalCertificateSelectionCallback = mutual ? (_, _, _, _, _) => Certificate! : null,
        EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        RemoteCertificateValidationCallback = (_, certificate, _, errors) => Accept(certificate, rejected)
            && (!checkName || !errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch) || Refuse(NameMismatch(certificate!, targetHost), rejected)),
    };

    private static bool Refuse(string why, Action<string>? rejected)
    {
        rejected?.Invoke(why);
        return false;
    }

    private static string NameMismatch(X509Certificate certificate, string host)
    {
        X509Certificate2 presented = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        return $"its certificate does not name '{host}' (it names {string.Join(", ", ClusterSecrets.NamesOf(presented))}); "
            + $"connect by one of those, or add the name with `coordinator secrets --out DIR --name {host}`";
    }

    private bool Accept(X509Certificate? certificate, Action<string>? rejected)
    {
        if (IsMember(certificate, out string why))
        {
            return true;
        }

        rejected?.Invoke(why);
        return false;
    }

    public const string ServerAuthentication = "1.3.6.1.5.5.7.3.1";

    public const string ClientAuthentication = "1.3.6.1.5.5.7.3.2";
}

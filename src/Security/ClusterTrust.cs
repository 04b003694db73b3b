using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace CnnCluster.Security;

/// <summary>
/// Who belongs to the cluster and as what: a peer is a member when its certificate chains to the cluster's
/// own authority (the CA of <see cref="ClusterSecrets"/>), never to the system's roots, and names a role
/// (<see cref="NodeRole"/>); what a peer may send is decided by that role where the message is read. One
/// instance serves the three transports that leave a process: Akka remoting (mutual TLS through DotNetty),
/// the data plane and pbm (SslStream). A client that connects to a name a person gave (pbm) checks that the
/// certificate names it too, as a browser with the CA would. Loaded from CLUSTER_SECRETS: the folder
/// `coordinator secrets` writes (each node takes its role's sub-folder) or one role's sub-folder itself.
/// </summary>
public sealed class ClusterTrust
{
    private ClusterTrust(X509Certificate2 authority, X509Certificate2? certificate, NodeRole? role, string folder)
    {
        Authority = authority;
        Certificate = certificate;
        Role = role;
        Folder = folder;
    }

    /// <summary>The cluster's CA certificate (public part only).</summary>
    public X509Certificate2 Authority { get; }

    /// <summary>This node's certificate with its private key (null for a client that only checks servers, <see cref="AuthorityOnly"/>).</summary>
    public X509Certificate2? Certificate { get; }

    /// <summary>This node's role (null for a client that only checks servers).</summary>
    public NodeRole? Role { get; }

    /// <summary>Where the secrets were read from (the role's own folder).</summary>
    public string Folder { get; }

    /// <summary>A warning line when this node's certificate ends within <see cref="NodeCertificates.RenewWithin"/>; else null.</summary>
    public string? ExpiryWarning => Certificate is { } c && c.NotAfter.ToUniversalTime() - DateTime.UtcNow < NodeCertificates.RenewWithin
        ? $"warning: this node's certificate ({Role?.Name()}) ends on {c.NotAfter.ToUniversalTime():yyyy-MM-dd}: renew it with `coordinator secrets --out DIR` (compose: `docker compose up` does) and restart the node"
        : null;

    /// <summary>A client's trust (pbm): checks that servers chain to the authority in <paramref name="authorityPath"/> and presents no certificate.</summary>
    public static ClusterTrust AuthorityOnly(string authorityPath)
    {
        try
        {
            return new ClusterTrust(X509CertificateLoader.LoadCertificateFromFile(authorityPath), null, null, Path.GetDirectoryName(Path.GetFullPath(authorityPath))!);
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"cannot read the cluster's CA certificate {authorityPath}: {e.Message.ReplaceLineEndings(" ").Trim()}");
        }
    }

    /// <summary>A trust that only checks certificates against <paramref name="authority"/>.</summary>
    public static ClusterTrust ForAuthority(X509Certificate2 authority) => new(authority, null, null, "");

    /// <summary>
    /// The trust of a <paramref name="role"/> node from <paramref name="folder"/>: its sub-folder for the role when it
    /// has one, else the folder itself. Its certificate must chain to the folder's authority, be in date and name the role.
    /// </summary>
    public static ClusterTrust Load(string folder, NodeRole role)
    {
        string own = Path.GetDirectoryName(ClusterSecrets.Locate(folder, ClusterSecrets.RoleFolder(role), ClusterSecrets.NodeFile) ?? Path.Combine(folder, ClusterSecrets.NodeFile))!;
        string authorityPath = Path.Combine(own, ClusterSecrets.AuthorityFile);
        string nodePath = Path.Combine(own, ClusterSecrets.NodeFile);
        string again = $"write the folder again with `coordinator secrets --out DIR` and give a {role.Name()} DIR or DIR/{ClusterSecrets.RoleFolder(role)}";
        foreach (string path in new[] { authorityPath, nodePath })
        {
            if (!File.Exists(path))
            {
                throw new ArgumentException($"CLUSTER_SECRETS={folder} has no {Path.GetFileName(path)} for a {role.Name()}: {again}");
            }
        }

        try
        {
            X509Certificate2 authority = X509CertificateLoader.LoadCertificateFromFile(authorityPath);
            X509Certificate2 node = X509CertificateLoader.LoadPkcs12FromFile(nodePath, password: null, X509KeyStorageFlags.EphemeralKeySet);
            if (!node.HasPrivateKey)
            {
                throw new ArgumentException($"{nodePath} holds no private key: {again}");
            }

            if (node.NotAfter.ToUniversalTime() < DateTime.UtcNow)
            {
                throw new ArgumentException($"{nodePath} ended on {node.NotAfter.ToUniversalTime():yyyy-MM-dd}: renew it with `coordinator secrets --out DIR` (compose: `docker compose up`) and start the node again");
            }

            NodeRole? named = NodeCertificates.RoleOf(node);
            if (named != role)
            {
                string holds = named is null ? "a certificate of no role (made before roles)" : $"the {named.Value.Name()}'s certificate";
                throw new ArgumentException($"{nodePath} is {holds}, and this node is a {role.Name()}: {again}");
            }

            var trust = new ClusterTrust(authority, node, role, own);
            if (!trust.IsMember(node, out string why))
            {
                throw new ArgumentException($"{nodePath} is not signed by {authorityPath} ({why}): {again}");
            }

            return trust;
        }
        catch (CryptographicException e)
        {
            throw new ArgumentException($"CLUSTER_SECRETS={folder}: cannot read the certificates ({e.Message.ReplaceLineEndings(" ").Trim()}); {again}");
        }
    }

    /// <summary>CLUSTER_SECRETS' trust for a <paramref name="role"/> node, or null when the variable is not set.</summary>
    public static ClusterTrust? FromEnvironment(NodeRole role, Func<string, string?>? env = null)
    {
        env ??= Environment.GetEnvironmentVariable;
        string? folder = env("CLUSTER_SECRETS");
        return string.IsNullOrWhiteSpace(folder) ? null : Load(folder.Trim(), role);
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

    /// <summary>True when <paramref name="certificate"/> is a member whose role permits <paramref name="needed"/> (any role when null).</summary>
    public bool Admits(X509Certificate? certificate, NodeRole? needed, out string why)
    {
        if (!IsMember(certificate, out why))
        {
            return false;
        }

        NodeRole? role = RoleOf(certificate);
        if (role is null)
        {
            why = $"'{certificate!.Subject}' names no role (a certificate made before roles): write the secrets again with `coordinator secrets --out DIR`";
            return false;
        }

        if (needed is { } n && !role.Value.Permits(n))
        {
            why = $"'{certificate!.Subject}' is a {role.Value.Name()}'s certificate, not a {n.Name()}'s";
            return false;
        }

        return true;
    }

    /// <summary>The role a peer's certificate names, or null (no certificate, or one of no role).</summary>
    public static NodeRole? RoleOf(X509Certificate? certificate) => certificate is null ? null
        : NodeCertificates.RoleOf(certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));

    /// <summary>For a server end (data plane, pbm): present the node certificate; ask for a client's (of any role) when <paramref name="mutual"/>.</summary>
    public SslServerAuthenticationOptions ServerOptions(bool mutual, Action<string>? rejected = null) => new()
    {
        ServerCertificate = Certificate ?? throw new InvalidOperationException("a server needs the node certificate"),
        ClientCertificateRequired = mutual,
        EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        RemoteCertificateValidationCallback = mutual ? (_, certificate, _, _) => Accept(certificate, null, rejected) : null,
    };

    /// <summary>
    /// For a client end: check the server against the authority (and, with <paramref name="checkName"/>, that its
    /// certificate names <paramref name="targetHost"/>; with <paramref name="serverRole"/>, that it holds that role);
    /// present the node certificate when <paramref name="mutual"/>.
    /// </summary>
    public SslClientAuthenticationOptions ClientOptions(string targetHost, bool mutual, Action<string>? rejected = null, bool checkName = false, NodeRole? serverRole = null) => new()
    {
        TargetHost = targetHost,
        ClientCertificates = mutual ? new X509CertificateCollection { Certificate ?? throw new InvalidOperationException("mutual TLS needs the node certificate") } : null,
        LocalCertificateSelectionCallback = mutual ? (_, _, _, _, _) => Certificate! : null,
        EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        RemoteCertificateValidationCallback = (_, certificate, _, errors) => Accept(certificate, serverRole, rejected)
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
        return $"its certificate does not name '{host}' (it names {string.Join(", ", NodeCertificates.NamesOf(presented))}); "
            + $"connect by one of those, or add the name with `coordinator secrets --out DIR --name {host}`";
    }

    private bool Accept(X509Certificate? certificate, NodeRole? needed, Action<string>? rejected) =>
        Admits(certificate, needed, out string why) || Refuse(why, rejected);

    public const string ServerAuthentication = "1.3.6.1.5.5.7.3.1";

    public const string ClientAuthentication = "1.3.6.1.5.5.7.3.2";
}

using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace CnnCluster.Security;

/// <summary>
/// The cluster's secrets folder, written by `coordinator secrets --out DIR` (compose's `secrets` service
/// runs it into a named volume before any node starts): the cluster's own certificate authority
/// (<see cref="AuthorityFile"/>, <see cref="AuthorityKeyFile"/>), the node certificate every node presents
/// (<see cref="NodeFile"/>, signed by it, for both ends of a connection), the pbm token
/// (<see cref="TokenFile"/>) and the database password (<see cref="DatabasePasswordFile"/>). What exists is
/// kept, so running it again (every `docker compose up`) changes nothing; a missing file is made, and a node
/// certificate that lacks a name asked for is issued again by the same authority. Keys and secrets are
/// readable by the owner only. The node certificate names what users connect to (<see cref="DefaultNames"/>
/// and whatever `--name` adds), so a browser or curl with the CA verifies https://127.0.0.1:9111/ too.
/// </summary>
public static class ClusterSecrets
{
    public const string AuthorityFile = "ca.crt";
    public const string AuthorityKeyFile = "ca.key";
    public const string NodeFile = "node.pfx";
    public const string TokenFile = "pbm.token";
    public const string DatabasePasswordFile = "db.password";

    private static readonly TimeSpan AuthorityLife = TimeSpan.FromDays(3650);
    private static readonly TimeSpan NodeLife = TimeSpan.FromDays(825);

    /// <summary>
    /// The names every node certificate carries: compose's service names, this machine by name and address (a
    /// published port is reached as 127.0.0.1 or localhost), and the name the cluster's own clients used before.
    /// </summary>
    public static readonly IReadOnlyList<string> DefaultNames = ["cnncluster-node", "coordinator", "worker", "localhost", "127.0.0.1", "::1"];

    /// <summary>
    /// Makes whatever is missing in <paramref name="folder"/>, the node certificate naming <see cref="DefaultNames"/>
    /// and <paramref name="names"/> (DNS names or IP addresses; the names of an existing certificate are kept);
    /// returns the names of the files it wrote.
    /// </summary>
    public static IReadOnlyList<string> Ensure(string folder, IEnumerable<string>? names = null)
    {
        string[] wanted = [.. DefaultNames.Concat(names ?? []).Select(NormalName).Distinct()];
        Directory.CreateDirectory(folder);
        var written = new List<string>();
        string authorityPath = Path.Combine(folder, AuthorityFile), keyPath = Path.Combine(folder, AuthorityKeyFile), nodePath = Path.Combine(folder, NodeFile);
        X509Certificate2 authority;
        if (File.Exists(authorityPath) && File.Exists(keyPath))
        {
            authority = X509Certificate2.CreateFromPemFile(authorityPath, keyPath);
        }
        else
        {
            authority = NewAuthority();
            WritePrivate(keyPath, authority.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
            File.WriteAllText(authorityPath, authority.ExportCertificatePem());
            written.AddRange([AuthorityFile, AuthorityKeyFile]);
            File.Delete(nodePath); // signed by an authority that is gone
        }

        string[] carried = [];
        if (File.Exists(nodePath))
        {
            using X509Certificate2 existing = X509CertificateLoader.LoadPkcs12FromFile(nodePath, password: null, X509KeyStorageFlags.EphemeralKeySet);
            carried = NamesOf(existing);
        }

        if (!File.Exists(nodePath) || wanted.Except(carried).Any())
        {
            using X509Certificate2 node = NewNode(authority, names: [.. carried.Union(wanted)]);
            WritePrivate(nodePath, node.Export(X509ContentType.Pkcs12));
            written.Add(NodeFile);
        }

        foreach (string secret in new[] { TokenFile, DatabasePasswordFile })
        {
            string path = Path.Combine(folder, secret);
            if (!File.Exists(path))
            {
                WritePrivate(path, System.Text.Encoding.ASCII.GetBytes(NewSecret()));
                written.Add(secret);
            }
        }

        return written;
    }

    /// <summary>A self-signed CA (ECDSA P-256) that may sign node certificates and nothing below them.</summary>
    public static X509Certificate2 NewAuthority(string name = "CnnCluster authority")
    {
        using ECDsa key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName($"CN={name}, O=CnnCluster"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: true, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        DateTimeOffset now = DateTimeOffset.UtcNow;
        return request.CreateSelfSigned(now.AddMinutes(-5), now + AuthorityLife);
    }

    /// <summary>A node certificate (ECDSA P-256) signed by <paramref name="authority"/>, for servers and clients alike.</summary>
    public static X509Certificate2 NewNode(X509Certificate2 authority, string name = "CnnCluster node", IReadOnlyList<string>? names = null)
    {
        using ECDsa key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName($"CN={name}, O=CnnCluster"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyAgreement, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(ClusterTrust.ServerAuthentication), new Oid(ClusterTrust.ClientAuthentication)], critical: false));
        var alternative = new SubjectAlternativeNameBuilder();
        foreach (string n in names ?? DefaultNames)
        {
            if (IPAddress.TryParse(n, out IPAddress? address))
            {
                alternative.AddIpAddress(address);
            }
            else
            {
                alternative.AddDnsName(n);
            }
        }

        request.CertificateExtensions.Add(alternative.Build());
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(authority, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        DateTimeOffset now = DateTimeOffset.UtcNow;
        DateTimeOffset until = now + NodeLife < authority.NotAfter ? now + NodeLife : authority.NotAfter;
        using X509Certificate2 publicOnly = request.Create(authority, now.AddMinutes(-5), until, RandomNumberGenerator.GetBytes(16));
        return publicOnly.CopyWithPrivateKey(key);
    }

    /// <summary>The DNS names and IP addresses <paramref name="certificate"/> is valid for.</summary>
    public static string[] NamesOf(X509Certificate2 certificate) =>
        certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>()
            .SelectMany(e => e.EnumerateDnsNames().Concat(e.EnumerateIPAddresses().Select(a => a.ToString())))
            .Select(NormalName).ToArray();

    /// <summary>
    /// A name a certificate may carry, as it is compared: an IP address in its canonical form, a DNS name in
    /// lower case; anything else is an <see cref="ArgumentException"/> that says what a name may be.
    /// </summary>
    public static string NormalName(string name)
    {
        string n = name.Trim();
        if (IPAddress.TryParse(n, out IPAddress? address))
        {
            return address.ToString();
        }

        bool dns = n.Length is > 0 and <= 253 && n.Split('.').All(label => label.Length is > 0 and <= 63
            && label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-') && label[0] != '-' && label[^1] != '-');
        return dns ? n.ToLowerInvariant() : throw new ArgumentException($"'{name}' is neither a DNS name nor an IP address (e.g. cnn.example.org, 10.0.0.5)");
    }

    /// <summary>256 random bits, URL-safe base64 (fits a connection string and an environment variable).</summary>
    public static string NewSecret() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>A secret file's text without its line end (files written by people end with one).</summary>
    public static string ReadSecret(string path) => File.ReadAllText(path).Trim();

    private static void WritePrivate(string path, string text) => WritePrivate(path, System.Text.Encoding.ASCII.GetBytes(text));

    private static void WritePrivate(string path, byte[] bytes)
    {
        // created owner-only before a byte is written, so the secret is never readable by others
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using var file = new FileStream(path, options);
        file.Write(bytes);
    }

    /// <summary>PBM_TOKEN, else the file PBM_TOKEN_FILE, else $CLUSTER_SECRETS/pbm.token when it exists; null: no token.</summary>
    public static string? ReadToken(Func<string, string?> env)
    {
        if (env("PBM_TOKEN") is { Length: > 0 } token)
        {
            return token;
        }

        string? file = string.IsNullOrWhiteSpace(env("PBM_TOKEN_FILE")) ? null : env("PBM_TOKEN_FILE")!.Trim();
        if (file is null && !string.IsNullOrWhiteSpace(env("CLUSTER_SECRETS")))
        {
            string candidate = Path.Combine(env("CLUSTER_SECRETS")!.Trim(), TokenFile);
            file = File.Exists(candidate) ? candidate : null;
        }

        if (file is null)
        {
            return null;
        }

        string secret;
        try
        {
            secret = ReadSecret(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"cannot read the pbm token file {file}: {e.Message}");
        }

        return secret.Length > 0 ? secret : throw new ArgumentException($"the pbm token file {file} is empty");
    }
}

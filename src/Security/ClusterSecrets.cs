using System.Security.Cryptography.X509Certificates;

namespace CnnCluster.Security;

/// <summary>
/// The cluster's secrets folder, written by `coordinator secrets --out DIR` (compose's `secrets` service runs
/// it before any node starts, each sub-folder its own volume), one sub-folder per holder so that each holds
/// only what it needs (README "Security" has the table):
/// <code>
/// DIR/ca.crt, ca.key                 the authority: its key never leaves DIR (the secrets service)
/// DIR/coordinator/ca.crt, node.pfx   the coordinator's certificate (role coordinator), pbm.token.sha256, db.password
/// DIR/worker/ca.crt, node.pfx        the workers' certificate (role worker), pbm.token.sha256
/// DIR/pbm/ca.crt, pbm.token          what an operator's pbm needs
/// DIR/database/db.password, postgres.password   the app's role (not a superuser) and the server's superuser
/// </code>
/// What exists is kept, so running it again changes nothing; a missing file is made; a node certificate
/// that lacks a name asked for, names another role, is signed by another authority or ends within
/// <see cref="NodeCertificates.RenewWithin"/> is issued again (and every one with `--renew`). A folder of an
/// older version (one node.pfx for all, secrets at the top) is taken over: its token and password move into
/// pbm/ and database/, its shared certificate is removed. Keys and secrets are readable by the owner only.
/// </summary>
public static class ClusterSecrets
{
    public const string AuthorityFile = "ca.crt";
    public const string AuthorityKeyFile = "ca.key";
    public const string NodeFile = "node.pfx";
    public const string TokenFile = "pbm.token";
    public const string TokenDigestFile = "pbm.token.sha256";
    public const string DatabasePasswordFile = "db.password";
    public const string DatabaseAdminPasswordFile = "postgres.password";
    public const string PbmFolder = "pbm";
    public const string DatabaseFolder = "database";

    /// <summary>The names the coordinator's certificate carries: compose's service name, this machine by name and address, and the name nodes used before roles.</summary>
    public static readonly IReadOnlyList<string> CoordinatorNames = ["cnncluster-node", "coordinator", "localhost", "127.0.0.1", "::1"];

    /// <summary>The names the workers' certificate carries (never the coordinator's, so a worker cannot pose as it to pbm).</summary>
    public static readonly IReadOnlyList<string> WorkerNames = ["worker", "localhost", "127.0.0.1", "::1"];

    /// <summary>The sub-folder of <paramref name="role"/>'s files.</summary>
    public static string RoleFolder(NodeRole role) => role.Name();

    /// <summary>
    /// Where a holder finds <paramref name="file"/> under the folder it was given: the holder's sub-folder
    /// <paramref name="subFolder"/> of the whole secrets folder, else the folder itself (compose mounts one holder's
    /// folder alone); null when neither has it.
    /// </summary>
    public static string? Locate(string folder, string subFolder, string file) =>
        new[] { Path.Combine(folder, subFolder, file), Path.Combine(folder, file) }.FirstOrDefault(File.Exists);

    /// <summary>
    /// Makes whatever is missing or due in <paramref name="folder"/>; <paramref name="names"/> (DNS names or IP
    /// addresses) are added to every node certificate; <paramref name="renew"/> issues every node certificate
    /// again. Returns the files it wrote, relative to <paramref name="folder"/>.
    /// </summary>
    public static IReadOnlyList<string> Ensure(string folder, IEnumerable<string>? names = null, bool renew = false)
    {
        string[] extra = [.. (names ?? []).Select(NodeCertificates.NormalName)];
        Directory.CreateDirectory(folder);
        var written = new List<string>();
        using X509Certificate2 authority = EnsureAuthority(folder, written);
        TakeOverOlderLayout(folder);

        string token = EnsureSecret(folder, Path.Combine(PbmFolder, TokenFile), written);
        string password = EnsureSecret(folder, Path.Combine(DatabaseFolder, DatabasePasswordFile), written);
        EnsureSecret(folder, Path.Combine(DatabaseFolder, DatabaseAdminPasswordFile), written);
        string authorityPem = File.ReadAllText(Path.Combine(folder, AuthorityFile));
        string digest = TokenDigest.Of(token).Hex + "\n";

        Keep(folder, Path.Combine(PbmFolder, AuthorityFile), authorityPem, written, secret: false);
        foreach (NodeRole role in Enum.GetValues<NodeRole>())
        {
            string own = RoleFolder(role);
            Keep(folder, Path.Combine(own, AuthorityFile), authorityPem, written, secret: false);
            Keep(folder, Path.Combine(own, TokenDigestFile), digest, written, secret: true);
            IEnumerable<string> roleNames = (role == NodeRole.Coordinator ? CoordinatorNames : WorkerNames).Concat(extra);
            EnsureNode(folder, role, authority, [.. roleNames.Select(NodeCertificates.NormalName).Distinct()], renew, written);
        }

        Keep(folder, Path.Combine(RoleFolder(NodeRole.Coordinator), DatabasePasswordFile), password + "\n", written, secret: true);
        return written;
    }

    private static X509Certificate2 EnsureAuthority(string folder, List<string> written)
    {
        string authorityPath = Path.Combine(folder, AuthorityFile), keyPath = Path.Combine(folder, AuthorityKeyFile);
        if (File.Exists(authorityPath) && File.Exists(keyPath))
        {
            return X509Certificate2.CreateFromPemFile(authorityPath, keyPath);
        }

        X509Certificate2 authority = NodeCertificates.NewAuthority();
        SecretFiles.WritePrivate(keyPath, authority.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(authorityPath, authority.ExportCertificatePem());
        written.AddRange([AuthorityFile, AuthorityKeyFile]);
        return authority;
    }

    /// <summary>An older folder kept every secret at its top and one node.pfx for all: the secrets move to their holders, the shared certificate goes.</summary>
    private static void TakeOverOlderLayout(string folder)
    {
        foreach ((string file, string into) in new[] { (TokenFile, PbmFolder), (DatabasePasswordFile, DatabaseFolder) })
        {
            string old = Path.Combine(folder, file), moved = Path.Combine(folder, into, file);
            if (File.Exists(old))
            {
                Directory.CreateDirectory(Path.Combine(folder, into));
                if (!File.Exists(moved))
                {
                    File.Move(old, moved);
                }
                else
                {
                    File.Delete(old);
                }
            }
        }

        File.Delete(Path.Combine(folder, NodeFile));
    }

    private static string EnsureSecret(string folder, string relative, List<string> written)
    {
        string path = Path.Combine(folder, relative);
        if (!File.Exists(path))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            SecretFiles.WritePrivate(path, SecretFiles.NewSecret());
            written.Add(relative);
        }

        return SecretFiles.ReadSecret(path);
    }

    /// <summary>Writes <paramref name="text"/> to the file unless it holds it already.</summary>
    private static void Keep(string folder, string relative, string text, List<string> written, bool secret)
    {
        string path = Path.Combine(folder, relative);
        if (File.Exists(path) && File.ReadAllText(path) == text)
        {
            return;
        }

        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        if (secret)
        {
            SecretFiles.WritePrivate(path, text);
        }
        else
        {
            File.WriteAllText(path, text);
        }

        written.Add(relative);
    }

    private static void EnsureNode(string folder, NodeRole role, X509Certificate2 authority, string[] names, bool renew, List<string> written)
    {
        string relative = Path.Combine(RoleFolder(role), NodeFile), path = Path.Combine(folder, relative);
        string[] carried = [];
        bool due = renew || !File.Exists(path);
        if (!due)
        {
            using X509Certificate2 existing = X509CertificateLoader.LoadPkcs12FromFile(path, password: null, X509KeyStorageFlags.EphemeralKeySet);
            carried = NodeCertificates.NamesOf(existing);
            due = names.Except(carried).Any()
                || NodeCertificates.RoleOf(existing) != role
                || existing.NotAfter.ToUniversalTime() - DateTime.UtcNow < NodeCertificates.RenewWithin
                || !SignedBy(existing, authority);
        }

        if (due)
        {
            using X509Certificate2 node = NodeCertificates.NewNode(authority, role, [.. carried.Union(names)]);
            SecretFiles.WritePrivate(path, node.Export(X509ContentType.Pkcs12));
            written.Add(relative);
        }
    }

    private static bool SignedBy(X509Certificate2 node, X509Certificate2 authority)
    {
        return ClusterTrust.ForAuthority(authority).IsMember(node, out string _);
    }
}

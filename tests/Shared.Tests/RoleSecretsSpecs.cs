using System.Security.Cryptography.X509Certificates;
using CnnCluster.Security;
using Xunit;

namespace CnnCluster.Shared.Tests;

/// <summary>
/// Least privilege in the secrets folder: each holder's sub-folder has only what it needs (the CA key stays at
/// the top, a worker has neither the token nor a password), each certificate names its role and a node refuses
/// another role's; an older folder (one shared certificate, secrets at the top) is taken over keeping its token
/// and password; certificates near their end are renewed and warned of, an ended one is named as such.
/// </summary>
public sealed class RoleSecretsSpecs : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("roles-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string[] FilesIn(string sub) => [.. Directory.GetFiles(Path.Combine(_folder, sub)).Select(Path.GetFileName).Order(StringComparer.Ordinal)!];

    private X509Certificate2 Authority() => X509Certificate2.CreateFromPemFile(Path.Combine(_folder, ClusterSecrets.AuthorityFile), Path.Combine(_folder, ClusterSecrets.AuthorityKeyFile));

    [Fact]
    public void EachHolderGetsOnlyItsOwnFiles()
    {
        ClusterSecrets.Ensure(_folder);
        Assert.Equal(["ca.crt", "ca.key"], FilesIn("."));
        Assert.Equal(["ca.crt", "db.password", "node.pfx", "pbm.token.sha256"], FilesIn("coordinator"));
        Assert.Equal(["ca.crt", "node.pfx", "pbm.token.sha256"], FilesIn("worker"));
        Assert.Equal(["ca.crt", "pbm.token"], FilesIn("pbm"));
        Assert.Equal(["db.password", "postgres.password"], FilesIn("database"));
        Assert.Equal(File.ReadAllText(Path.Combine(_folder, "database", "db.password")).Trim(), File.ReadAllText(Path.Combine(_folder, "coordinator", "db.password")).Trim());
        Assert.NotEqual(File.ReadAllText(Path.Combine(_folder, "database", "db.password")), File.ReadAllText(Path.Combine(_folder, "database", "postgres.password")));
        if (!OperatingSystem.IsWindows())
        {
            foreach (string secret in new[] { "ca.key", "coordinator/node.pfx", "coordinator/db.password", "worker/node.pfx", "pbm/pbm.token", "database/postgres.password" })
            {
#pragma warning disable CA1416 // not on Windows
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_folder, secret)));
#pragma warning restore CA1416
            }
        }

        Assert.Empty(ClusterSecrets.Ensure(_folder)); // all there: nothing written
    }

    [Fact]
    public void EachCertificateNamesItsRoleAndANodeRefusesAnotherRoles()
    {
        ClusterSecrets.Ensure(_folder);
        Assert.Equal(NodeRole.Coordinator, ClusterTrust.Load(_folder, NodeRole.Coordinator).Role);
        Assert.Equal(NodeRole.Worker, ClusterTrust.Load(Path.Combine(_folder, "worker"), NodeRole.Worker).Role);

        // a worker given the coordinator's folder (or the other way round) says so in one line
        var e = Assert.Throws<ArgumentException>(() => ClusterTrust.Load(Path.Combine(_folder, "coordinator"), NodeRole.Worker));
        Assert.Contains("is the coordinator's certificate, and this node is a worker", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.Contains("is the worker's certificate, and this node is a coordinator", Assert.Throws<ArgumentException>(() => ClusterTrust.Load(Path.Combine(_folder, "worker"), NodeRole.Coordinator)).Message);

        // what may act as what: the coordinator may do a worker's part, never the other way round
        ClusterTrust trust = ClusterTrust.Load(_folder, NodeRole.Worker);
        X509Certificate2 coordinator = ClusterTrust.Load(_folder, NodeRole.Coordinator).Certificate!;
        Assert.True(trust.Admits(coordinator, NodeRole.Worker, out _));
        Assert.False(trust.Admits(trust.Certificate, NodeRole.Coordinator, out string why));
        Assert.Contains("is a worker's certificate, not a coordinator's", why);
        using X509Certificate2 noRole = NodeCertificates.NewNode(Authority(), null, ["worker"]);
        Assert.True(trust.IsMember(noRole, out _));
        Assert.False(trust.Admits(noRole, null, out why));
        Assert.Contains("names no role", why);
    }

    [Fact]
    public void AnOlderFolderIsTakenOverKeepingItsTokenAndPassword()
    {
        // as versions before roles wrote it: the CA, one node.pfx of no role, the token and password at the top
        ClusterSecrets.Ensure(_folder);
        using (X509Certificate2 authority = Authority())
        using (X509Certificate2 shared = NodeCertificates.NewNode(authority, null, ClusterSecrets.CoordinatorNames))
        {
            File.WriteAllBytes(Path.Combine(_folder, "node.pfx"), shared.Export(X509ContentType.Pkcs12));
        }

        foreach (string sub in new[] { "coordinator", "worker", "pbm", "database" })
        {
            Directory.Delete(Path.Combine(_folder, sub), recursive: true);
        }

        File.WriteAllText(Path.Combine(_folder, "pbm.token"), "old-token\n");
        File.WriteAllText(Path.Combine(_folder, "db.password"), "old-password\n");
        Assert.Contains("a certificate of no role (made before roles)", Assert.Throws<ArgumentException>(() => ClusterTrust.Load(_folder, NodeRole.Worker)).Message);

        ClusterSecrets.Ensure(_folder);
        Assert.Equal(["ca.crt", "ca.key"], FilesIn("."));
        Assert.Equal("old-token", SecretFiles.ReadSecret(Path.Combine(_folder, "pbm", "pbm.token")));
        Assert.Equal("old-password", SecretFiles.ReadSecret(Path.Combine(_folder, "coordinator", "db.password")));
        Assert.True(SecretFiles.ReadTokenDigest(k => k == "CLUSTER_SECRETS" ? _folder : null, NodeRole.Worker)!.Admits("old-token"));
    }

    [Fact]
    public void ACertificateNearItsEndIsWarnedOfAndRenewedAndAnEndedOneIsNamedSo()
    {
        ClusterSecrets.Ensure(_folder);
        string worker = Path.Combine(_folder, "worker", ClusterSecrets.NodeFile);
        using (X509Certificate2 authority = Authority())
        using (X509Certificate2 ending = NodeCertificates.NewNode(authority, NodeRole.Worker, ClusterSecrets.WorkerNames, TimeSpan.FromDays(10)))
        {
            File.WriteAllBytes(worker, ending.Export(X509ContentType.Pkcs12));
        }

        Assert.Contains("warning: this node's certificate (worker) ends on", ClusterTrust.Load(_folder, NodeRole.Worker).ExpiryWarning);
        Assert.Null(ClusterTrust.Load(_folder, NodeRole.Coordinator).ExpiryWarning);
        Assert.Equal([Path.Combine("worker", ClusterSecrets.NodeFile)], ClusterSecrets.Ensure(_folder));
        Assert.Null(ClusterTrust.Load(_folder, NodeRole.Worker).ExpiryWarning);
        Assert.Equal(2, ClusterSecrets.Ensure(_folder, renew: true).Count);

        using (X509Certificate2 authority = Authority())
        using (X509Certificate2 ended = NodeCertificates.NewNode(authority, NodeRole.Worker, ClusterSecrets.WorkerNames, TimeSpan.FromMinutes(-1)))
        {
            File.WriteAllBytes(worker, ended.Export(X509ContentType.Pkcs12)); // valid from 5 minutes ago to 1 minute ago
        }

        var e = Assert.Throws<ArgumentException>(() => ClusterTrust.Load(_folder, NodeRole.Worker));
        Assert.Contains("ended on", e.Message);
        Assert.Contains("coordinator secrets --out DIR", e.Message);
    }
}

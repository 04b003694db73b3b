using System.Net.Sockets;
using CnnCluster.Shared.Pbm;
using CnnCluster.Security;
using Xunit;

namespace CnnCluster.Shared.Tests;

public sealed class PbmHostSettingsSpecs
{
    private static PbmHostSettings From(Dictionary<string, string> env) => PbmHostSettings.FromEnvironment(NodeRole.Worker, 9110, k => env.GetValueOrDefault(k));

    [Fact]
    public void LoopbackNeedsNeitherTokenNorTls()
    {
        PbmHostSettings s = From(new());
        Assert.Equal("127.0.0.1", s.Host);
        Assert.Null(s.Token);
        Assert.Null(s.Trust);
        Assert.Null(s.Warning);
        Assert.True(s.Admits(null));
        Assert.True(s.Admits("anything"));
    }

    [Fact]
    public void BeyondLoopbackATokenIsRequired()
    {
        var e = Assert.Throws<ArgumentException>(() => From(new() { ["PBM_HOST"] = "0.0.0.0", ["CLUSTER_INSECURE"] = "1" }));
        Assert.Contains("PBM_HOST=0.0.0.0 is reachable beyond this machine, so pbm needs a token", e.Message);
    }

    [Fact]
    public void BeyondLoopbackTlsIsRequiredUnlessInsecureIsSaid()
    {
        var e = Assert.Throws<ArgumentException>(() => From(new() { ["PBM_HOST"] = "0.0.0.0", ["PBM_TOKEN"] = "a-token-long-enough" }));
        Assert.Contains("without TLS", e.Message);
        Assert.Contains("CLUSTER_SECRETS", e.Message);
        Assert.Contains("CLUSTER_INSECURE=1", e.Message);

        PbmHostSettings insecure = From(new() { ["PBM_HOST"] = "0.0.0.0", ["PBM_TOKEN"] = "a-token-long-enough", ["CLUSTER_INSECURE"] = "1" });
        Assert.StartsWith("warning: CLUSTER_INSECURE=1: pbm listens on 0.0.0.0:9110 without TLS", insecure.Warning);
    }

    [Fact]
    public void TheSecretsFolderGivesTlsAndTheTokensDigestAndTheVariablesComeFirst()
    {
        string dir = Directory.CreateTempSubdirectory("pbm-secrets-").FullName;
        try
        {
            ClusterSecrets.Ensure(dir);
            string fileToken = File.ReadAllText(Path.Combine(dir, ClusterSecrets.PbmFolder, ClusterSecrets.TokenFile)).Trim();
            foreach (string secrets in new[] { dir, Path.Combine(dir, "worker") })
            {
                // the whole folder (the worker takes its own) or the worker's folder alone, which holds no token, only its digest
                PbmHostSettings s = From(new() { ["CLUSTER_SECRETS"] = secrets, ["PBM_HOST"] = "0.0.0.0" });
                Assert.Equal(NodeRole.Worker, s.Trust?.Role);
                Assert.Null(s.Warning);
                Assert.True(s.Admits(fileToken));
                Assert.False(s.Admits(s.Token!.Hex));
            }

            Assert.False(File.Exists(Path.Combine(dir, "worker", ClusterSecrets.TokenFile)));
            string other = Path.Combine(dir, "other.token");
            File.WriteAllText(other, "from-file-0123456789\n");
            Assert.True(From(new() { ["CLUSTER_SECRETS"] = dir, ["PBM_TOKEN_FILE"] = other }).Admits("from-file-0123456789"));
            Assert.True(From(new() { ["CLUSTER_SECRETS"] = dir, ["PBM_TOKEN_FILE"] = other, ["PBM_TOKEN"] = "from-env-0123456789" }).Admits("from-env-0123456789"));
            Assert.Throws<ArgumentException>(() => From(new() { ["PBM_TOKEN_FILE"] = Path.Combine(dir, "missing") }));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void ATokenTooShortToResistGuessingIsRefusedInOneLine()
    {
        var e = Assert.Throws<ArgumentException>(() => From(new() { ["PBM_TOKEN"] = "s3cret" }));
        Assert.Equal("PBM_TOKEN holds a token of 6 characters; a node takes one of at least 16 (`coordinator secrets` makes one of 43)", e.Message);
    }

    [Fact]
    public void OnlyTheExactTokenIsAdmitted()
    {
        var s = new PbmHostSettings("127.0.0.1", 0, TokenDigest.Of("s3cret"));
        Assert.True(s.Admits("s3cret"));
        Assert.False(s.Admits(null));
        Assert.False(s.Admits(""));
        Assert.False(s.Admits("s3cre"));
        Assert.False(s.Admits("s3cret "));
        Assert.False(s.Admits("S3CRET"));
    }

    [Fact]
    public void ATakenPortIsOneLine()
    {
        using TcpListener first = new PbmHostSettings("127.0.0.1", 0, null).Listen();
        int port = ((System.Net.IPEndPoint)first.LocalEndpoint).Port;
        var e = Assert.Throws<ArgumentException>(() => new PbmHostSettings("127.0.0.1", port, null).Listen());
        Assert.StartsWith($"pbm cannot listen on 127.0.0.1:{port}: ", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }
}

using CnnCluster.Shared.Hosting;
using Xunit;

namespace CnnCluster.Shared.Tests;

public sealed class NodeSettingsSpecs
{
    [Fact]
    public void ReadsTheEnvironmentVariables()
    {
        var env = new Dictionary<string, string>
        {
            ["CLUSTER_HOSTNAME"] = "coordinator",
            ["CLUSTER_BIND"] = "0.0.0.0",
            ["CLUSTER_PORT"] = "4053",
            ["CLUSTER_SEEDS"] = "coordinator:4053, akka.tcp://cnncluster@other:5000",
            ["CLUSTER_INSECURE"] = "1",
        };
        NodeSettings s = NodeSettings.FromEnvironment(CnnCluster.Security.NodeRole.Worker, 0, k => env.GetValueOrDefault(k));
        Assert.Equal("coordinator", s.Hostname);
        Assert.Equal("0.0.0.0", s.Bind);
        Assert.Equal(4053, s.Port);
        Assert.Equal(["akka.tcp://cnncluster@coordinator:4053", "akka.tcp://cnncluster@other:5000"], s.Seeds);
        Assert.True(s.Unencrypted);
        Assert.Contains("without TLS", s.Warning);
    }

    [Theory]
    [InlineData("0.0.0.0", null)]
    [InlineData("127.0.0.1", "10.1.2.3")]
    [InlineData("192.168.1.5", null)]
    public void ANodeBeyondLoopbackWithoutTlsIsRefusedWithTheWayToFixIt(string bind, string? hostname)
    {
        var env = new Dictionary<string, string> { ["CLUSTER_BIND"] = bind };
        if (hostname is not null)
        {
            env["CLUSTER_HOSTNAME"] = hostname;
        }

        var e = Assert.Throws<ArgumentException>(() => NodeSettings.FromEnvironment(CnnCluster.Security.NodeRole.Worker, 0, k => env.GetValueOrDefault(k)));
        Assert.Contains("without TLS", e.Message);
        Assert.Contains("CLUSTER_SECRETS", e.Message);
        Assert.Contains("CLUSTER_INSECURE=1", e.Message);
    }

    [Fact]
    public void WithTheClustersSecretsSeedsUseTheTlsTransport()
    {
        string folder = Directory.CreateTempSubdirectory("secrets-").FullName;
        try
        {
            CnnCluster.Security.ClusterSecrets.Ensure(folder);
            var env = new Dictionary<string, string> { ["CLUSTER_BIND"] = "0.0.0.0", ["CLUSTER_SECRETS"] = folder, ["CLUSTER_SEEDS"] = "coordinator:4053" };
            NodeSettings s = NodeSettings.FromEnvironment(CnnCluster.Security.NodeRole.Worker, 0, k => env.GetValueOrDefault(k));
            Assert.NotNull(s.Trust);
            Assert.False(s.Unencrypted);
            Assert.Null(s.Warning);
            Assert.Equal(["akka.ssl.tcp://cnncluster@coordinator:4053"], s.Seeds);

            env["CLUSTER_SEEDS"] = "akka.tcp://cnncluster@coordinator:4053";
            Assert.Contains("write it as host:port", Assert.Throws<ArgumentException>(() => NodeSettings.FromEnvironment(CnnCluster.Security.NodeRole.Worker, 0, k => env.GetValueOrDefault(k))).Message);
            env["CLUSTER_SECRETS"] = Path.Combine(folder, "missing");
            Assert.Contains("coordinator secrets --out", Assert.Throws<ArgumentException>(() => NodeSettings.FromEnvironment(CnnCluster.Security.NodeRole.Worker, 0, k => env.GetValueOrDefault(k))).Message);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void DefaultsToLoopbackAndTheGivenPort()
    {
        NodeSettings s = NodeSettings.FromEnvironment(CnnCluster.Security.NodeRole.Coordinator, 4053, _ => null);
        Assert.Equal("127.0.0.1", s.Hostname);
        Assert.Equal("127.0.0.1", s.Bind);
        Assert.Equal(4053, s.Port);
        Assert.Empty(s.Seeds);
    }

    [Theory]
    [InlineData("CLUSTER_PORT", "http", "CLUSTER_PORT 'http' is not a port number")]
    [InlineData("CLUSTER_PORT", "70000", "CLUSTER_PORT '70000'")]
    [InlineData("CLUSTER_SEEDS", "justahost", "CLUSTER_SEEDS entry 'justahost' is not host:port")]
    [InlineData("CLUSTER_SEEDS", "host:0", "CLUSTER_SEEDS entry 'host:0'")]
    public void BadValuesAreNamed(string name, string value, string expected)
    {
        var e = Assert.Throws<ArgumentException>(() => NodeSettings.FromEnvironment(CnnCluster.Security.NodeRole.Worker, 0, k => k == name ? value : null));
        Assert.Contains(expected, e.Message);
    }
}

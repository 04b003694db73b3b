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
        };
        NodeSettings s = NodeSettings.FromEnvironment(0, k => env.GetValueOrDefault(k));
        Assert.Equal("coordinator", s.Hostname);
        Assert.Equal("0.0.0.0", s.Bind);
        Assert.Equal(4053, s.Port);
        Assert.Equal(["akka.tcp://cnncluster@coordinator:4053", "akka.tcp://cnncluster@other:5000"], s.Seeds);
    }

    [Fact]
    public void DefaultsToLoopbackAndTheGivenPort()
    {
        NodeSettings s = NodeSettings.FromEnvironment(4053, _ => null);
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
        var e = Assert.Throws<ArgumentException>(() => NodeSettings.FromEnvironment(0, k => k == name ? value : null));
        Assert.Contains(expected, e.Message);
    }
}

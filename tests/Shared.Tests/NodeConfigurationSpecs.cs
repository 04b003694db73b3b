using CnnCluster.Shared.Hosting;
using Xunit;

namespace CnnCluster.Shared.Tests;

public sealed class NodeConfigurationSpecs : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("config-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private (string? File, Dictionary<string, string> Set) Load(string json, Dictionary<string, string>? env = null)
    {
        string path = Path.Combine(_dir, "cnncluster.json");
        File.WriteAllText(path, json);
        env ??= new Dictionary<string, string>();
        env[NodeConfiguration.FileVariable] = path;
        var set = new Dictionary<string, string>();
        return (NodeConfiguration.Load(k => env.GetValueOrDefault(k), (k, v) => set[k] = v), set);
    }

    [Fact]
    public void TheFileGivesWhatTheEnvironmentDoesNot()
    {
        var (file, set) = Load("""{ "CLUSTER_PORT": 4100, "PBM_PORT": "9200", "cnn_data": "/srv/data" }""", new() { ["PBM_PORT"] = "9300" });

        Assert.EndsWith("cnncluster.json", file);
        Assert.Equal(new Dictionary<string, string> { ["CLUSTER_PORT"] = "4100", ["CNN_DATA"] = "/srv/data" }, set);
    }

    [Fact]
    public void AnUnknownSettingIsOneLineWithTheClosestName()
    {
        var e = Assert.Throws<ArgumentException>(() => Load("""{ "CLUSTER_PROT": 4100 }"""));
        Assert.EndsWith("'CLUSTER_PROT' is not a setting; did you mean 'CLUSTER_PORT'? (README lists them)", e.Message);
    }

    [Theory]
    [InlineData("{ not json", "is not a JSON object of settings")]
    [InlineData("""{ "CLUSTER_SEEDS": ["a", "b"] }""", "'CLUSTER_SEEDS' must be a string or a number")]
    public void ABadFileIsOneLine(string json, string expected)
    {
        var e = Assert.Throws<ArgumentException>(() => Load(json));
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    [Fact]
    public void NoFileIsNoConfigurationButANamedMissingFileIsAnError()
    {
        Assert.Null(NodeConfiguration.Load(_ => null, (_, _) => throw new InvalidOperationException("nothing to set")));
        var e = Assert.Throws<ArgumentException>(() => NodeConfiguration.Load(k => k == NodeConfiguration.FileVariable ? "/nonexistent/c.json" : null));
        Assert.Equal("CNNCLUSTER_CONFIG names /nonexistent/c.json, which does not exist", e.Message);
    }

    [Fact]
    public void ReadmeDocumentsEverySettingInOneTable()
    {
        string dir = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(dir, "README.md")))
        {
            dir = Path.GetDirectoryName(dir)!;
        }

        string readme = File.ReadAllText(Path.Combine(dir, "README.md"));
        foreach (Setting s in NodeConfiguration.All)
        {
            Assert.Contains($"| `{s.Key}` | {s.Default} | {s.Meaning} |", readme);
        }
    }
}

using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Xunit;

namespace CnnCluster.Coordinator.Tests;

/// <summary>Runs `train` as a real process for end-to-end tests, in a temporary output folder.</summary>
public abstract class TrainProcesses : IDisposable
{
    protected static readonly TimeSpan Timeout = TimeSpan.FromMinutes(4);

    protected string Out { get; } = Directory.CreateTempSubdirectory("e2e-").FullName;

    /// <summary>The PostgreSQL server that scripts/setup.sh --test-deps starts (CNN_TEST_POSTGRES overrides).</summary>
    protected static string PostgresConnection =>
        Environment.GetEnvironmentVariable("CNN_TEST_POSTGRES") ?? "Host=127.0.0.1;Port=5432;Username=cnn;Password=cnn;Database=cnncluster";

    public virtual void Dispose() => Directory.Delete(Out, recursive: true);

    /// <summary>Writes the 5 M-parameter dense model's spec into <see cref="Out"/>: 784·6400 + 6400 + 6400·10 + 10 = 5,088,010 parameters.</summary>
    protected string WideSpec()
    {
        string spec = Path.Combine(Out, "wide.json");
        File.WriteAllText(spec, """
            { "name": "wide", "input": [1, 28, 28], "classes": 10,
              "layers": [ { "type": "flatten" }, { "type": "dense", "out": 6400 }, { "type": "relu" }, { "type": "dense", "out": 10 } ] }
            """);
        return spec;
    }

    private static readonly ConcurrentDictionary<string, string> EngineHashes = new();

    protected static string Hash(JsonElement summary) => summary.GetProperty("param_sha256").GetString()!;

    /// <summary>
    /// The engine alone's param_sha256 for these options, the reference a cluster run must end with. The numeric
    /// contract makes it a function of the options, so each set is trained once per suite run rather than by every
    /// test that compares with it.
    /// </summary>
    protected string EngineHash(string[] args) => EngineHashes.GetOrAdd(string.Join('\u001f', args), _ => Hash(Train(args)));

    protected JsonElement Train(string[] args, IReadOnlyDictionary<string, string>? env = null)
    {
        using ChildProcess p = StartTrain(args, env);
        return Finish(p);
    }

    protected ChildProcess StartTrain(string[] args, IReadOnlyDictionary<string, string>? env = null) =>
        ChildProcess.Start("CnnCluster.Coordinator.dll", ["train", "--out", Out, .. args], env);

    protected static JsonElement Finish(ChildProcess p)
    {
        int code = p.WaitForExit(Timeout);
        Assert.True(code == 0, $"train exited {code}\nstdout:\n{p.Stdout}\nstderr:\n{p.Stderr}");
        string last = p.Stdout.TrimEnd().Split('\n')[^1];
        return JsonDocument.Parse(last).RootElement.Clone();
    }

    internal static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}

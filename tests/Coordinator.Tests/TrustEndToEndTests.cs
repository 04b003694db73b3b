using System.Text.Json;
using CnnCluster.Security;
using Xunit;
using Xunit.Abstractions;

namespace CnnCluster.Coordinator.Tests;

/// <summary>
/// The cluster's trust with real processes on 127.0.0.1: a coordinator with the cluster's secrets
/// (mutual TLS for remoting and the data plane) is joined by a worker with the same secrets, while a
/// worker without any certificate and one whose certificate comes from another authority try to join
/// and are refused in the handshake; the sharded run keeps the engine's hash. A node bound beyond
/// loopback without TLS refuses to start, in one line, unless CLUSTER_INSECURE=1.
/// </summary>
public sealed class TrustEndToEndTests(ITestOutputHelper output) : TrainProcesses
{
    private static readonly string[] Common = ["--steps", "120", "--epochs", "100", "--limit", "2048", "--seed", "21"];

    [Fact]
    public void StrangersDoNotJoinAndTheRunKeepsTheEnginesHash()
    {
        string ours = Path.Combine(Out, "ours"), theirs = Path.Combine(Out, "theirs");
        ClusterSecrets.Ensure(ours);
        ClusterSecrets.Ensure(theirs);
        string engine = Hash(Train(Common));

        int port = FreePort();
        using ChildProcess coordinator = StartTrain([.. Common, "--workers", "0", "--reduce", "sharded", "--cluster-port", port.ToString()],
            new Dictionary<string, string> { ["CLUSTER_SECRETS"] = ours });
        coordinator.WaitForOutput("cluster: coordinator at akka.ssl.tcp://", Timeout);

        // the strangers first: the run waits for a worker, so none of them may be taken as one
        using ChildProcess plain = ChildProcess.Worker(port, env: new Dictionary<string, string> { ["CLUSTER_SECRETS"] = "" });
        using ChildProcess stranger = ChildProcess.Worker(port, env: new Dictionary<string, string> { ["CLUSTER_SECRETS"] = theirs });
        coordinator.WaitForLog("due to TLS handshake failure", Timeout, times: 2);
        coordinator.WaitForLog("does not chain to the cluster's authority", Timeout);
        Assert.False(plain.HasExited || stranger.HasExited, "a refused worker keeps trying; it does not crash");

        using ChildProcess member = ChildProcess.Worker(port, env: new Dictionary<string, string> { ["CLUSTER_SECRETS"] = ours });
        JsonElement summary = Finish(coordinator);
        output.WriteLine(string.Join("\n", coordinator.Stderr.Split('\n').Where(l => l.Contains("TLS", StringComparison.Ordinal)).Take(6)));

        Assert.Equal(engine, Hash(summary));
        // the nodes that carried the run's traffic: the coordinator and the one member
        string[] nodes = summary.GetProperty("node_bytes_per_step").EnumerateArray().Select(n => n.GetProperty("node").GetString()!).ToArray();
        Assert.Equal(2, nodes.Length);
        Assert.Contains("coordinator", nodes);
        Assert.DoesNotContain("Up", stranger.Stdout + stranger.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("CnnCluster.Worker.dll", 2)]
    [InlineData("CnnCluster.Coordinator.dll", 3)]
    public void ANodeBoundBeyondLoopbackWithoutTlsRefusesToStart(string dll, int code)
    {
        var env = new Dictionary<string, string> { ["CLUSTER_BIND"] = "0.0.0.0", ["CLUSTER_SEEDS"] = "127.0.0.1:4053", ["CLUSTER_SECRETS"] = "", ["CLUSTER_INSECURE"] = "" };
        (int exit, string stdout, string stderr) = ChildProcess.Run(dll, dll.Contains("Coordinator") ? ["serve"] : [], env, TimeSpan.FromMinutes(1));
        Assert.Equal(code, exit);
        Assert.Equal("", stdout);
        string line = Assert.Single(stderr.TrimEnd().Split('\n'));
        Assert.StartsWith("error: this node would listen on 0.0.0.0", line);
        Assert.Contains("CLUSTER_SECRETS", line);
    }

    [Fact]
    public void ClusterInsecureLetsItStartWithAWarning()
    {
        int pbm = FreePort();
        using ChildProcess serve = ChildProcess.Serve(0, pbm, new Dictionary<string, string>
        {
            ["CLUSTER_BIND"] = "0.0.0.0",
            ["CLUSTER_PORT"] = FreePort().ToString(),
            ["CLUSTER_INSECURE"] = "1",
            ["CLUSTER_SECRETS"] = "",
            ["PERSISTENCE_PROVIDER"] = "SQLite.MS",
            ["PERSISTENCE_CONNECTION"] = $"Data Source={Path.Combine(Out, "insecure.db")}",
        });
        Assert.Contains("warning: CLUSTER_INSECURE=1: this node listens on 0.0.0.0", serve.Stderr);
    }
}

using System.Text.Json;
using Akka.Actor;
using Akka.Hosting;
using CnnCluster.Security;
using CnnCluster.Shared.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
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
        string engine = EngineHash(Common);

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

    /// <summary>
    /// Akka's roles are what a node says: a node holding a worker's certificate that joins saying it is a coordinator
    /// (and so could host the run registry) is probed by the members, shows a worker's certificate, and is downed in
    /// one line; the run goes on with a real worker and the engine's hash.
    /// </summary>
    [Fact]
    public async Task AWorkersCertificateThatJoinsAsACoordinatorIsDowned()
    {
        string ours = Path.Combine(Out, "ours");
        ClusterSecrets.Ensure(ours);
        string engine = EngineHash(Common);

        int port = FreePort();
        using ChildProcess coordinator = StartTrain([.. Common, "--workers", "0", "--reduce", "sharded", "--cluster-port", port.ToString()],
            new Dictionary<string, string> { ["CLUSTER_SECRETS"] = ours });
        coordinator.WaitForOutput("cluster: coordinator at akka.ssl.tcp://", Timeout);

        // built in this test as a hostile node would be (our binaries refuse another role's folder)
        var settings = new NodeSettings("127.0.0.1", "127.0.0.1", 0, [NodeSettings.ParseSeed($"127.0.0.1:{port}", tls: true)])
        {
            Trust = ClusterTrust.Load(Path.Combine(ours, "worker"), NodeRole.Worker),
        };
        HostApplicationBuilder builder = Host.CreateApplicationBuilder();
        builder.Services.AddAkka(NodeSettings.SystemName, (akka, _) => akka.WithCnnClusterNode(settings, Roles.Coordinator));
        using IHost impostor = builder.Build();
        var removed = new TaskCompletionSource();
        await impostor.StartAsync();
        try
        {
            Akka.Cluster.Cluster.Get(impostor.Services.GetRequiredService<ActorSystem>()).RegisterOnMemberRemoved(() => removed.TrySetResult());
            coordinator.WaitForLog("says it is a coordinator and its certificate does not", Timeout);
            await removed.Task.WaitAsync(Timeout);

            using ChildProcess member = ChildProcess.Worker(port, env: new Dictionary<string, string> { ["CLUSTER_SECRETS"] = ours });
            JsonElement summary = Finish(coordinator);
            output.WriteLine(string.Join("\n", coordinator.Stderr.Split('\n').Where(l => l.Contains("says it is a coordinator", StringComparison.Ordinal))));
            Assert.Equal(engine, Hash(summary));
            Assert.Contains("its certificate does not: 127.0.0.1 is not a node of this cluster", coordinator.Stderr);
        }
        finally
        {
            await impostor.StopAsync();
        }
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

using System.Text.Json;
using System.Text.RegularExpressions;
using Xunit;
using Xunit.Abstractions;

namespace CnnCluster.Coordinator.Tests;

/// <summary>
/// The cluster with real processes on 127.0.0.1 (DESIGN §4), summing through the coordinator (the star):
/// whatever computes the gradients, and whatever fails on the way, the parameters after a fixed number of
/// steps are the engine's. The sharded all-reduce has its own (<see cref="ShardedAllReduceTests"/>).
/// </summary>
public sealed class ClusterEndToEndTests(ITestOutputHelper output) : TrainProcesses
{
    [Fact]
    public void EngineInProcessWorkerAndThreeWorkerProcessesGiveTheSameParameters()
    {
        string[] common = ["--steps", "25", "--limit", "2048", "--seed", "7"];
        string engine = EngineHash([.. common]);
        string inProcess = Hash(Train([.. common, "--workers", "1"]));
        JsonElement three = Train([.. common, "--worker-processes", "3", "--worker-threads", "1", "--reduce", "star"]);
        Assert.Equal(engine, inProcess);
        Assert.Equal(engine, Hash(three));
        Assert.Equal("cluster", three.GetProperty("mode").GetString());
        output.WriteLine($"3 worker processes: {three.GetProperty("wire_bytes_per_step").GetInt64():N0} bytes on the wire per step");
    }

    [Fact]
    public void AWorkerKilledWithSigkillMidRunChangesNothing()
    {
        string[] common = ["--steps", "600", "--epochs", "10", "--limit", "8192", "--seed", "11"];
        string engine = EngineHash([.. common]);

        int port = FreePort();
        using ChildProcess coordinator = StartTrain([.. common, "--workers", "0", "--reduce", "star", "--cluster-port", port.ToString()], new Dictionary<string, string> { ["CNN_LOG_LEVEL"] = "Information" });
        // workers that try the seed before it listens are gated by remoting for seconds; start them once it does
        coordinator.WaitForOutput("cluster: coordinator at", Timeout);
        using ChildProcess w1 = ChildProcess.Worker(port);
        using ChildProcess w2 = ChildProcess.Worker(port);
        using ChildProcess w3 = ChildProcess.Worker(port);
        // kill only once all three hold work: a worker still starting up when killed has nothing to move, and neither
        // has one killed before the run starts (the registry's recovery on a loaded machine can outlast the workers' joining)
        coordinator.WaitForLog("; 3 workers", Timeout);
        coordinator.WaitForLog(" accepted: ", Timeout);
        Thread.Sleep(500);
        DateTime killed = DateTime.UtcNow;
        w2.KillHard();

        JsonElement summary = Finish(coordinator);
        Assert.Equal(engine, Hash(summary));
        long moved = summary.GetProperty("reassigned_nodes").GetInt64() + summary.GetProperty("speculative_nodes").GetInt64();
        Assert.True(moved >= 1, $"no node was moved after the kill: {summary}");

        // when the dead worker's nodes went elsewhere (the run logs it with a UTC timestamp)
        Match m = Regex.Match(coordinator.Stderr, @"(?m)^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z [^\n]*(also sent to|reassigned)");
        Assert.True(m.Success, coordinator.Stderr);
        DateTime moveTime = DateTime.ParseExact(m.Groups[1].Value, "yyyy-MM-dd'T'HH:mm:ss.FFFFFFF", System.Globalization.CultureInfo.InvariantCulture);
        double seconds = (moveTime - killed).TotalSeconds;
        output.WriteLine($"worker killed at {killed:HH:mm:ss.fff}, its nodes moved {seconds:F2} s later; {moved} node(s) moved");
        Assert.InRange(seconds, 0, 15);
    }

    [Fact]
    public void AWorkerJoiningMidRunGetsWorkAndChangesNothing()
    {
        string[] common = ["--steps", "600", "--epochs", "10", "--limit", "8192", "--seed", "13"];
        string engine = EngineHash([.. common]);

        int port = FreePort();
        using ChildProcess coordinator = StartTrain([.. common, "--worker-processes", "1", "--worker-threads", "1", "--reduce", "star", "--cluster-port", port.ToString()], new Dictionary<string, string> { ["CNN_LOG_LEVEL"] = "Information" });
        coordinator.WaitForOutput("step 1/600", Timeout);
        using ChildProcess late = ChildProcess.Worker(port);

        JsonElement summary = Finish(coordinator);
        Assert.Equal(engine, Hash(summary));
        Assert.Contains("2 workers", coordinator.Stderr);
    }

    [Fact]
    public void AFiveMillionParameterModelTrainsAcrossProcessesInChunks()
    {
        // 784·6400 + 6400 + 6400·10 + 10 = 5,088,010 parameters: 20 MB per message, 20 chunks
        string spec = WideSpec();
        string[] common = ["--model", spec, "--steps", "3", "--limit", "512", "--batch-size", "32", "--shard-size", "8", "--lr", "0.01"];
        JsonElement engine = Train([.. common]);
        JsonElement cluster = Train([.. common, "--worker-processes", "2", "--worker-threads", "1", "--reduce", "star"]);
        Assert.Equal(5_088_010, engine.GetProperty("parameters").GetInt32());
        Assert.Equal(Hash(engine), Hash(cluster));
        long wire = cluster.GetProperty("wire_bytes_per_step").GetInt64();
        Assert.True(wire > 2 * 20_000_000L, $"{wire} bytes per step");
        output.WriteLine($"5.09 M parameters over 2 processes: {wire:N0} bytes on the wire per step");
    }
}

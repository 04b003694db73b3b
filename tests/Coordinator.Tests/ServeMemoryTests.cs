using System.Diagnostics;
using Xunit;
using Xunit.Abstractions;

namespace CnnCluster.Coordinator.Tests;

/// <summary>
/// A long-lived `serve` does not grow with the runs it has had: 200 short runs submitted and queried
/// through one pbm session, its resident memory once they have passivated is within 20 MiB of what it
/// was after the first 50.
/// </summary>
public sealed class ServeMemoryTests(ITestOutputHelper output) : TrainProcesses
{
    [Fact]
    public void ServeStaysFlatOverTwoHundredShortRunsSubmittedAndQueried()
    {
        int pbmPort = FreePort();
        using ChildProcess serve = ChildProcess.Serve(1, pbmPort, new Dictionary<string, string>
        {
            ["CLUSTER_PORT"] = FreePort().ToString(),
            ["PERSISTENCE_PROVIDER"] = "SQLite.MS",
            ["PERSISTENCE_CONNECTION"] = $"Data Source={Path.Combine(Out, "runs.db")}",
            ["RUN_PASSIVATE_SECONDS"] = "2",
        });

        long afterFifty = Batch(serve, pbmPort, 0, 50);
        long afterTwoHundred = Batch(serve, pbmPort, 50, 200);
        output.WriteLine($"resident after 50 runs {afterFifty >> 20} MiB, after 200 runs {afterTwoHundred >> 20} MiB");
        Assert.InRange(afterTwoHundred - afterFifty, -(20L << 20), 20L << 20);
    }

    /// <summary>Submits and queries runs [from, to) in one interactive pbm session; the node's resident bytes once they passivated.</summary>
    private static long Batch(ChildProcess serve, int pbmPort, int from, int to)
    {
        string commands = string.Concat(Enumerable.Range(from, to - from).Select(i =>
            $"train submit -m lenet5 --steps 2 --limit 256 --reduce star --run-id r{i}\ntrain status -r r{i}\n")) + "exit\n";
        using ChildProcess pbm = ChildProcess.StartWithInput("pbm.dll", [$"127.0.0.1:{pbmPort}"], commands);
        Assert.Equal(0, pbm.WaitForExit(Timeout));
        Assert.Equal(to - from, pbm.Stdout.Split('\n').Count(l => l.Contains("state: ", StringComparison.Ordinal)));

        // every run ended (2 steps), passivated (2 s after its last query) and its memory given back
        Thread.Sleep(TimeSpan.FromSeconds(8));
        using Process node = Process.GetProcessById(serve.Id);
        node.Refresh();
        return node.WorkingSet64;
    }
}

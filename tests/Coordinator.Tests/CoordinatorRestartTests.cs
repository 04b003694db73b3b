using System.Diagnostics;
using System.Text.RegularExpressions;
using Xunit;
using Xunit.Abstractions;

namespace CnnCluster.Coordinator.Tests;

/// <summary>
/// The coordinator's death survived without a person: `serve` is SIGKILLed in the middle of a run while
/// two worker processes keep running; they start a new membership by themselves, a `serve` restarted on
/// the same store and port resumes the run with them, and it ends with the engine's hash. The same when
/// `serve` stops cleanly (SIGTERM, as `docker compose restart coordinator`): nobody is downed then, and the
/// workers leave a cluster that has no coordinator left (<c>CoordinatorWatch</c>).
/// </summary>
public sealed class CoordinatorRestartTests(ITestOutputHelper output) : TrainProcesses
{
    // the star passed the same test by hand (1 m 35 s); CI runs the default, sharded
    [Theory]
    [InlineData("sharded")]
    public void ARunOutlivesItsCoordinatorWithTheSameWorkersAndTheEnginesHash(string reduce) => Outlive(reduce, graceful: false);

    [Fact]
    public void ARunOutlivesAGracefulCoordinatorRestartWithTheSameWorkers() => Outlive("sharded", graceful: true);

    private void Outlive(string reduce, bool graceful)
    {
        string engine = EngineHash(["--steps", "1000", "--epochs", "100", "--limit", "4096", "--seed", "11"]);
        int clusterPort = FreePort(), pbmPort = FreePort();
        string db = Path.Combine(Out, "runs.db");
        using ChildProcess first = Serve(clusterPort, pbmPort, db);
        ChildProcess? coordinator = null;
        using ChildProcess w1 = ChildProcess.Worker(clusterPort);
        using ChildProcess w2 = ChildProcess.Worker(clusterPort);
        try
        {
            var submit = Pbm(pbmPort, "train", "submit", "-m", "lenet5", "--steps", "1000", "-e", "100", "--limit", "4096", "--seed", "11", "--reduce", reduce, "--snapshot-every", "50");
            Assert.True(submit.Code == 0, submit.Stderr);
            string id = submit.Stdout.Trim().Split('\n')[^1];
            WaitUntil(() => Step(Pbm(pbmPort, "train", "status", "-r", id).Stdout) >= 300, "step 300");

            if (graceful)
            {
                first.Terminate();
                Assert.Equal(0, first.WaitForExit(Timeout));
                w1.WaitForOutput("no coordinator in the cluster", Timeout); // the node log: stdout
            }
            else
            {
                first.KillHard();
            }

            w1.WaitForLog("cluster membership 1 ended", Timeout);
            w2.WaitForLog("cluster membership 1 ended", Timeout);

            coordinator = Serve(clusterPort, pbmPort, db);
            string status = "";
            WaitUntil(() => (status = Pbm(pbmPort, "train", "status", "-r", id).Stdout).Contains("state: completed"), "the run's end");
            output.WriteLine(status);
            Assert.Contains($"param_sha256: {engine}", status);
            Assert.False(w1.HasExited || w2.HasExited, "a worker process ended");
            Assert.Contains("joined", coordinator.Stderr);
        }
        finally
        {
            coordinator?.Dispose();
        }
    }

    private static long Step(string status) =>
        Regex.Match(status, @"step: (\d+)") is { Success: true } m ? long.Parse(m.Groups[1].Value) : -1;

    private static void WaitUntil(Func<bool> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > Timeout)
            {
                throw new TimeoutException($"no {what} within {Timeout}");
            }

            Thread.Sleep(500);
        }
    }

    private static (int Code, string Stdout, string Stderr) Pbm(int port, params string[] args) =>
        ChildProcess.Run("pbm.dll", [$"127.0.0.1:{port}", .. args]);

    private static ChildProcess Serve(int clusterPort, int pbmPort, string db) => ChildProcess.Serve(0, pbmPort, new Dictionary<string, string>
    {
        ["CNN_LOG_LEVEL"] = "Information",
        ["CLUSTER_PORT"] = clusterPort.ToString(),
        ["PERSISTENCE_PROVIDER"] = "SQLite.MS",
        ["PERSISTENCE_CONNECTION"] = $"Data Source={db}",
    });
}

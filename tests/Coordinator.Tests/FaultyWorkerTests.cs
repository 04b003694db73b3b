using System.Text.Json;
using Xunit;
using Xunit.Abstractions;

namespace CnnCluster.Coordinator.Tests;

/// <summary>
/// Real worker processes over 127.0.0.1 with one of them a test build that breaks some of its results
/// (tests/FaultyWorker): the coordinator refuses what it can check, computes it again elsewhere,
/// quarantines the worker after two failures, and the run ends with the engine's hash; with --verify
/// it also catches finite, plausible garbage by computing nodes twice.
/// </summary>
public sealed class FaultyWorkerTests(ITestOutputHelper output) : TrainProcesses
{
    private static readonly string[] Common = ["--steps", "300", "--epochs", "100", "--limit", "4096", "--seed", "13"];

    [Theory]
    [InlineData("nan:40", "[]")]
    [InlineData("short:40", "[]")]
    [InlineData("perturb:25", "--verify 1")]
    public void AFaultyWorkersResultsAreRecomputedItIsQuarantinedAndTheHashIsTheEngines(string fault, string extra)
    {
        string engine = EngineHash(Common);
        string[] verify = extra == "[]" ? [] : extra.Split(' ');
        (JsonElement summary, string log) = RunWith(fault, good: verify.Length > 0 ? 2 : 1, [.. Common, .. verify]);

        Assert.Equal(engine, Hash(summary));
        Assert.Single(summary.GetProperty("quarantined").EnumerateArray());
        Assert.Contains("quarantined after 2 failed results", log);
        if (verify.Length > 0)
        {
            Assert.True(summary.GetProperty("disagreements").GetInt64() >= 2, summary.ToString());
        }
        else
        {
            Assert.True(summary.GetProperty("refused_results").GetInt64() >= 2, summary.ToString());
            Assert.Contains("is refused: its gradient", log);
        }
    }

    /// <summary>
    /// A member's NaN part is refused by the slice's owner (its own replica, when it is alone). Alone, its quarantine
    /// leaves no replica: the good worker that joins then makes the run rewind to its last snapshot (a new incarnation
    /// of the run, which still names the quarantined worker: its journal has it).
    /// </summary>
    [Theory]
    [InlineData(FaultyJoins.WithTheGood)]
    [InlineData(FaultyJoins.Alone)]
    public void InAShardedRunTheSliceOwnersRefuseAFaultyWorkersNanAndTheStepRunsAgain(FaultyJoins joins)
    {
        string engine = EngineHash(Common);
        (JsonElement summary, string log) = RunWith("nan:40", good: 1, Common, reduce: "sharded", joins);
        Assert.Equal(engine, Hash(summary));
        Assert.Single(summary.GetProperty("quarantined").EnumerateArray());
        Assert.Contains("was refused by a member summing its slice: its part holds NaN", log);
        Assert.Contains("quarantined after 2 failed results", log);
        if (joins == FaultyJoins.Alone)
        {
            Assert.Contains("every replica was lost after step", log);
        }
    }

    /// <summary>
    /// A member that sends a poisoned state when the run asks for one (every snapshot; a joining worker would get
    /// it): the state must have the SHA-256 every replica reported, so it is refused, its sender struck and then
    /// quarantined, and the run ends with the engine's hash. The faulty worker is member 0 (the one asked) by its
    /// lower port.
    /// </summary>
    [Fact]
    public void InAShardedRunAPoisonedStateIsRefusedAndItsSenderQuarantined()
    {
        string[] args = ["--steps", "2000", "--epochs", "100", "--limit", "4096", "--seed", "13", "--snapshot-every", "50"];
        string engine = EngineHash(args);
        (JsonElement summary, string log) = RunWith("poison-state:1", good: 1, args, reduce: "sharded", FaultyJoins.FirstMember);
        Assert.Equal(engine, Hash(summary));
        Assert.Single(summary.GetProperty("quarantined").EnumerateArray());
        Assert.Contains("sent is refused: its SHA-256 is", log);
        Assert.Contains("quarantined after 2 failed results", log);
    }

    /// <summary>
    /// --verify 1 in a sharded run. FAULT=forge-sum:1 is issue 30's attack: a member adds 0.01 to the sum of the slice
    /// it owns before it applies, reports and sends it; before, every replica committed the same wrong bits and the run
    /// "completed"; now the slice's checker reports another sum, the coordinator settles it from the agreed parts and
    /// strikes the forger. FAULT=perturb:25 is finite garbage in a node, outvoted by a third computer. Either member is
    /// quarantined at its second strike, its step runs again, and the run ends with the engine's hash. Two good
    /// members: with --verify a lone member is not trusted (the run waits for a second), so one stays to compare
    /// with once the faulty one is gone, whoever joins first.
    /// </summary>
    [Theory]
    [InlineData("forge-sum:1", "is wrong: it reported a sum of slice")]
    [InlineData("perturb:25", "differently from two others")]
    public void InAShardedRunVerifyingCatchesAFaultyOrLyingMemberAndTheHashIsTheEngines(string fault, string caught)
    {
        string engine = EngineHash(Common);
        (JsonElement summary, string log) = RunWith(fault, good: 2, [.. Common, "--verify", "1"], reduce: "sharded");
        Assert.Equal(engine, Hash(summary));
        Assert.Single(summary.GetProperty("quarantined").EnumerateArray());
        Assert.True(summary.GetProperty("disagreements").GetInt64() >= 2, summary.ToString());
        Assert.Contains(caught, log);
        Assert.Contains("quarantined after 2 failed results", log);
    }

    /// <summary>
    /// A hostile member (tests/FaultyWorker, FAULT=hostile) with the cluster's worker certificate, over mutual TLS,
    /// tries every attack issue 30 names (<c>HostileMember</c>): on its peers' data planes as itself and on
    /// connections of its own, on the coordinator's data plane and over remoting, a flood and an oversized frame;
    /// then it forges the sum of its own slice. Each attack is refused in one line by the node it targets, the
    /// forger is caught by its checker and quarantined, and the run ends with the engine's hash.
    /// </summary>
    [Fact]
    public void AHostileMemberWithTheClustersCertificateTriesEveryAttackAndTheRunKeepsTheEnginesBits()
    {
        string secrets = Path.Combine(Out, "hostile-secrets");
        CnnCluster.Security.ClusterSecrets.Ensure(secrets);
        // long enough for the attacks' connections to be closed by their receivers (a claim never proven: 10 s)
        string[] args = ["--steps", "2000", "--epochs", "100", "--limit", "4096", "--seed", "13", "--verify", "1"];
        string engine = EngineHash(args[..^2]);
        (JsonElement summary, string log) = RunWith("hostile:1", good: 2, args, reduce: "sharded", FaultyJoins.Last, secrets);
        output.WriteLine(string.Join("\n", Attacks.Split('\n').Where(l => l.StartsWith("attack:", StringComparison.Ordinal)).Distinct().Take(40)));
        output.WriteLine(string.Join("\n", Peers.Split('\n').Where(l => l.Contains("refused", StringComparison.Ordinal) || l.Contains("closed", StringComparison.Ordinal)).Take(60)));
        output.WriteLine(string.Join("\n", log.Split('\n').Where(l => l.Contains("may not come from another node", StringComparison.Ordinal) || l.Contains("unasked", StringComparison.Ordinal))));

        Assert.Equal(engine, Hash(summary));
        Assert.Single(summary.GetProperty("quarantined").EnumerateArray());
        Assert.Contains("is wrong: it reported a sum of slice", log);
        foreach (string attack in (string[])["as myself, the sum of slice", "as myself, an early sum", "as myself, a sum without values", "a replica's state, as if", "a poisoned state after step",
            "a run's end notice over remoting", "a quarantine of the worker", "to the registry, the type's name escaped", "a flood of 532 connections", "a step plan frame of 209715200 bytes"])
        {
            Assert.Contains(attack, Attacks);
        }

        // on the peers' data planes
        Assert.Contains("came from 127.0.0.1:", Peers); // a sum or a part as itself, of what is not its to send
        Assert.Contains("(it came before the step's plan and was held for it)", Peers);
        Assert.Contains("the sum of slice 5000", Peers);
        Assert.Contains("without values", Peers);
        Assert.Contains("a part of slice -1", Peers);
        Assert.Contains("refused: a SliceSum from a peer that did not say which member it is", Peers);
        Assert.Contains("and did not prove it within 10 s", Peers);
        Assert.Contains("refused: a StepPlan comes only from the coordinator, and this connection holds the worker's certificate", Peers);
        Assert.Contains("refused: a ReplicaInit comes only from the coordinator, and this connection holds the worker's certificate", Peers);
        Assert.Matches(@"data plane: refused a connection from 127\.0\.0\.1:\d+: 512 are open, the limit", Peers);
        Assert.Contains($"a StepPlan frame announces {200 << 20} bytes", Peers);
        Assert.DoesNotContain("Restarting", Peers);
        Assert.True(Peers.Split('\n').Count(l => l.Contains("TLS handshake failed", StringComparison.Ordinal)) < 10, "a flood is told once a second, not once a connection");

        // on the coordinator's
        Assert.Contains("sent unasked (a state is taken only from member 0", log);
        // over remoting: the plain JSON refused on its text, the escaped one once read
        Assert.Contains("a message naming CnnCluster.Coordinator.Runs.RunEndedNotice may not come from another node", log);
        Assert.Contains("a message naming CnnCluster.Coordinator.Cluster.QuarantineWorker may not come from another node", log);
        Assert.Contains("a RunEndedNotice may not come from another node", log);
        Assert.Contains("a QuarantineWorker may not come from another node", log);
    }

    private string Peers { get; set; } = "";

    private string Attacks { get; set; } = "";

    [Fact]
    public void VerifyingATenthOfTheNodesCatchesAWorkerThatPerturbsOneResultInFifty()
    {
        (JsonElement summary, string log) = RunWith("perturb:50", good: 2, ["--steps", "600", "--epochs", "100", "--limit", "4096", "--seed", "13", "--verify", "0.1"]);
        long verified = summary.GetProperty("verified_nodes").GetInt64();
        long disagreements = summary.GetProperty("disagreements").GetInt64();
        output.WriteLine($"verified {verified} nodes, {disagreements} disagreement(s), quarantined {summary.GetProperty("quarantined")}");
        Assert.True(disagreements >= 1, summary.ToString());
        Assert.Contains("differently from two others", log);
    }

    /// <summary>When the faulty worker joins the run, relative to the good ones.</summary>
    public enum FaultyJoins
    {
        /// <summary>All start together.</summary>
        WithTheGood,

        /// <summary>After the good ones hold the run; by its lower port it is member 0 from the next generation on.</summary>
        FirstMember,

        /// <summary>After the good ones are in the cluster: its first step has every member.</summary>
        Last,

        /// <summary>Alone; the good ones start once it is quarantined (a sharded run is left with no replica).</summary>
        Alone,
    }

    /// <summary>A run on `good` real workers and one faulty one.</summary>
    private (JsonElement Summary, string Log) RunWith(string fault, int good, string[] args, string reduce = "star", FaultyJoins joins = FaultyJoins.WithTheGood, string? secrets = null)
    {
        var trust = secrets is null ? new Dictionary<string, string>() : new Dictionary<string, string> { ["CLUSTER_SECRETS"] = secrets };
        // members are ordered by address: as FirstMember the faulty worker gets the lower port, so it is member 0
        (int faultyPort, int goodPort) = joins == FaultyJoins.FirstMember ? OrderedPorts() : (0, 0);
        int port = FreePort();
        using ChildProcess coordinator = StartTrain([.. args, "--workers", "0", "--reduce", reduce, "--cluster-port", port.ToString()], new Dictionary<string, string>(trust) { ["CNN_LOG_LEVEL"] = "Information" });
        coordinator.WaitForOutput("cluster: coordinator at", Timeout);
        var workers = new List<ChildProcess>();
        try
        {
            var faulty = new Dictionary<string, string>(trust)
            {
                ["FAULT"] = fault,
                ["CLUSTER_SEEDS"] = $"127.0.0.1:{port}",
                ["CLUSTER_HOSTNAME"] = "127.0.0.1",
                ["CLUSTER_PORT"] = faultyPort.ToString(),
                ["WORKER_THREADS"] = "1",
            };
            if (joins is FaultyJoins.WithTheGood or FaultyJoins.Alone)
            {
                workers.Add(ChildProcess.Start("CnnCluster.FaultyWorker.dll", [], faulty));
            }

            if (joins == FaultyJoins.Alone)
            {
                coordinator.WaitForLog("quarantined after 2 failed results", Timeout);
            }

            for (int i = 0; i < good; i++)
            {
                workers.Add(ChildProcess.Worker(port, env: joins == FaultyJoins.FirstMember ? new Dictionary<string, string>(trust) { ["CLUSTER_PORT"] = (goodPort + i).ToString() } : trust));
            }

            if (joins == FaultyJoins.Last)
            {
                coordinator.WaitForLog(" joined (", Timeout, times: good);
                workers.Insert(0, ChildProcess.Start("CnnCluster.FaultyWorker.dll", [], faulty));
            }

            if (joins == FaultyJoins.FirstMember)
            {
                // the good ones hold the run first (a state asked of the faulty one before would leave none)
                coordinator.WaitForLog("member(s) from the next step", Timeout);
                workers.Insert(0, ChildProcess.Start("CnnCluster.FaultyWorker.dll", [], faulty));
            }

            JsonElement summary = Finish(coordinator);
            Peers = string.Join("\n", workers.Skip(1).Select(w => w.Stdout + w.Stderr)); // the faulty one is first either way
            Attacks = workers[0].Stderr;
            output.WriteLine(string.Join("\n", coordinator.Stderr.Split('\n').Where(l => l.Contains("refused") || l.Contains("quarantined") || l.Contains("differently"))));
            output.WriteLine(workers[0].Stderr.Split('\n').Count(l => l.StartsWith("fault:", StringComparison.Ordinal)) + " faults injected");
            return (summary, coordinator.Stderr);
        }
        finally
        {
            workers.ForEach(w => w.Dispose());
        }
    }

    /// <summary>Two free ports of as many digits, the first the lower (room above the second for more workers).</summary>
    private static (int Low, int High) OrderedPorts()
    {
        while (true)
        {
            int a = FreePort(), b = FreePort();
            (int low, int high) = a < b ? (a, b) : (b, a);
            if (low != high && low.ToString().Length == (high + 8).ToString().Length)
            {
                return (low, high);
            }
        }
    }
}

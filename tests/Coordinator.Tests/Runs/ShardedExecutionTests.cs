using CnnCluster.Coordinator.Runs.Steps;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.Protocol;
using Xunit;

namespace CnnCluster.Coordinator.Tests.Runs;

/// <summary>
/// The sharded execution given messages, without an actor system: real replicas (<see cref="Worker.Sharded.ShardedReplica"/>)
/// exchange their slices through <see cref="ExecutionBench"/>'s queue in a seeded random order, and the
/// execution's decisions and the replicas' hashes are checked, including every failure path: a member
/// lost mid-step, a replica out of step, a refused part, a stalled exchange, replicas that disagree,
/// every replica gone.
/// </summary>
public sealed class ShardedExecutionTests
{
    internal const int Steps = 5;
    internal static readonly RunConfig Config = RunConfig.From(Presets.LeNet5, "lenet5",
        new TrainingOptions { Epochs = 10, MaxSteps = Steps, BatchSize = ExecutionBench.Batch, ShardSize = 8, Seed = 3, Sgd = new Engine.Optim.SgdOptions(0.9, true, 5e-4) }, null,
        reduction: Reduction.Sharded);

    internal static readonly Lazy<string[]> Engine = new(() => ExecutionBench.EngineHashes(Config, Steps));

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    [InlineData(3, 3)]
    [InlineData(4, 4)]
    public void MembersCommitTheEnginesBitsAndTheLastStepsStateComesBack(int members, int seed)
    {
        var bench = new ExecutionBench(Config, seed);
        bench.Join(members);
        bench.RunToEnd();

        Assert.Equal(Engine.Value, bench.Hashes);
        Assert.Equal(members, bench.Sent.Count(s => s.Message is ReplicaInit));
        Assert.All(bench.Sent.Select(s => s.Message).OfType<StepPlan>(), p => Assert.Equal(members, p.Members.Length));

        // the last step asks member 0 for the state: the session holds the run's parameters again
        Assert.True(bench.Execution.ParametersCurrent);
        Assert.Equal(Engine.Value[^1], ParameterHash.Of(bench.Session.Parameters));
        Assert.Equal(Engine.Value[^1], bench.Execution.CurrentHash());
    }

    [Fact]
    public void BetweenCapturesTheRunsHashIsTheReplicasNotTheStaleSessions()
    {
        var bench = new ExecutionBench(Config, seed: 2);
        bench.Join(2);
        bench.Advance();
        bench.DeliverUntil(() => bench.Hashes.Count == 2);

        Assert.False(bench.Execution.ParametersCurrent);
        Assert.Equal(0, bench.Execution.ParametersStep);
        Assert.Equal(Engine.Value[1], bench.Execution.CurrentHash());
    }

    [Fact]
    public void TheFirstStepBeginsOnlyOnceEveryFirstMembersReplicaIsMade()
    {
        var ready = new List<(string Worker, ReplicaReady Ready)>();
        var bench = new ExecutionBench(Config, seed: 13) { Fault = (w, m) => m is ReplicaReady r && w == "w1" ? Hold(ready, w, r) : m };
        bench.Join(2);
        bench.Advance();

        // both got the run's state; w0 is ready, w1 not yet: no plan, no step clock
        Assert.Equal(2, bench.Sent.Count(s => s.Message is ReplicaInit));
        Assert.DoesNotContain(bench.Sent, s => s.Message is StepPlan);
        Assert.Null(bench.Execution.InFlight);
        Assert.Equal(StepStatus.Pending, bench.Last.Status);

        (string worker, ReplicaReady late) = Assert.Single(ready);
        bench.Apply(bench.Execution.Handle(worker, late));
        Assert.Contains(bench.Decisions, d => d.Status == StepStatus.Resume);
        Assert.Equal(1, bench.Execution.InFlight);
        bench.DeliverUntil(() => bench.Session.Finished && bench.Execution.InFlight is null);
        Assert.Equal(Engine.Value, bench.Hashes);
    }

    [Fact]
    public void AFirstMemberLostBeforeItsReplicaIsMadeLetsTheOthersBegin()
    {
        var bench = new ExecutionBench(Config, seed: 14) { Fault = (w, m) => m is ReplicaReady && w == "w2" ? null : m };
        bench.Join(3);
        bench.Advance();
        Assert.Null(bench.Execution.InFlight);

        bench.Lose("w2");
        Assert.Equal(1, bench.Execution.InFlight);
        Assert.All(bench.Sent.Select(s => s.Message).OfType<StepPlan>(), p => Assert.Equal(2, p.Members.Length));
        bench.DeliverUntil(() => bench.Session.Finished && bench.Execution.InFlight is null);
        Assert.Equal(Engine.Value, bench.Hashes);
    }

    [Fact]
    public void AWorkerThatJoinsARunningRunIsInTheNextStepWithoutHoldingTheOthersBack()
    {
        var bench = new ExecutionBench(Config, seed: 15) { Fault = (w, m) => m is ReplicaReady && w == "w1" ? null : m };
        bench.Join(1);
        bench.Advance();
        bench.Join(1, first: 1); // joins the step after those planned ahead (their plans are out)
        bench.DeliverUntil(() => bench.Session.Finished && bench.Execution.InFlight is null);

        // w1 never said it was ready: a later member is not waited for, its replica is made within the step that brings it in
        Assert.Equal(Engine.Value, bench.Hashes);
        Assert.Contains(bench.Sent, s => s is ("w1", StepPlan { Members.Length: 2 }));
    }

    private static IProtocolMessage? Hold(List<(string, ReplicaReady)> held, string worker, ReplicaReady ready)
    {
        held.Add((worker, ready));
        return null;
    }

    [Fact]
    public void AWorkerWithoutADataPlaneIsLeftOut()
    {
        var bench = new ExecutionBench(Config);
        bench.Join(1, dataPlane: false);
        Assert.Equal(StepStatus.Pending, bench.Last.Status);
        Assert.Contains(bench.Log.Lines, l => l.Contains("w0 has no data plane", StringComparison.Ordinal));

        bench.Advance();
        Assert.Equal(StepStatus.Wait, bench.Last.Status);
        Assert.Empty(bench.Sent);
    }

    [Fact]
    public void AMemberLostMidStepRestartsTheStepWithTheOthersAndTheBitsStayTheEngines()
    {
        var bench = new ExecutionBench(Config, seed: 5);
        bench.Join(3);
        bench.Advance();
        bench.DeliverUntil(() => bench.Hashes.Count == 1);
        bench.DeliverUntil(() => bench.Telemetry.Results >= 2);
        bench.Lose("w2");

        Assert.Contains(bench.Decisions, d => d.Status == StepStatus.Restart && d.Reason == "worker w2 lost (gone in a test)");
        Assert.Equal(2, bench.Execution.InFlight); // step 2 again, by a new generation
        Assert.Equal(2, ((StepPlan)bench.Sent[^1].Message).Members.Length);
        bench.DeliverUntil(() => bench.Session.Finished && bench.Execution.InFlight is null);
        Assert.Equal(Engine.Value, bench.Hashes);
    }

    [Fact]
    public void AReplicaOutOfStepGetsTheRunsStateAgainAndRejoins()
    {
        var bench = new ExecutionBench(Config, seed: 6);
        bench.Join(2);
        bench.Advance();
        bench.DeliverUntil(() => bench.Hashes.Count == 1);
        bench.Forgetful.Add("w1");
        bench.DeliverUntil(() => bench.Decisions.Any(d => d.Status == StepStatus.Restart));

        Assert.Contains(bench.Log.Lines, l => l.Contains("w1: replica out of step", StringComparison.Ordinal));
        bench.Forgetful.Clear();
        bench.DeliverUntil(() => bench.Session.Finished && bench.Execution.InFlight is null);

        Assert.Equal(Engine.Value, bench.Hashes);
        Assert.True(bench.Sent.Count(s => s is ("w1", ReplicaInit)) >= 2, "w1 got the run's state a second time");
        Assert.Equal(2, ((StepPlan)bench.Sent.Last(s => s.Message is StepPlan).Message).Members.Length);
    }

    [Fact]
    public void ARefusedPartRestartsTheStepAndASecondQuarantinesTheWorkerThatComputedIt()
    {
        var bench = new ExecutionBench(Config, seed: 7);
        bench.Join(3);
        bench.Advance();
        for (int refusal = 1; refusal <= 2; refusal++)
        {
            StepPlan plan = bench.PlanInFlight("w1"); // not the one planned ahead
            bench.Apply(bench.Execution.Handle("w0", new PartRefused(plan.Ref, plan.Mine[0], "its values are not finite")));
        }

        Assert.Equal(["w1"], bench.Quarantined);
        Assert.Equal(2, bench.Decisions.Count(d => d.Status == StepStatus.Restart));
        Assert.Equal(2, ((StepPlan)bench.Sent[^1].Message).Members.Length);
        bench.Lose("w1"); // what it had in flight is dropped with it
        bench.DeliverUntil(() => bench.Session.Finished && bench.Execution.InFlight is null);
        Assert.Equal(Engine.Value, bench.Hashes);
    }

    [Fact]
    public void AnExchangeThatStallsAfterTheLastNodeRunsTheStepAgainAfterItsDeadline()
    {
        var bench = new ExecutionBench(Config, seed: 8) { Fault = (_, m) => m is StepDone ? null : m };
        bench.Join(2);
        bench.Advance();
        bench.DeliverUntil(() => false);
        bench.Tick();
        Assert.Equal(1, bench.Execution.InFlight);
        Assert.DoesNotContain(bench.Decisions, d => d.Status == StepStatus.Restart);

        bench.Now += ShardedExecution<string>.ExchangeDeadline + TimeSpan.FromSeconds(1);
        bench.Fault = (_, m) => m;
        bench.Tick();
        Assert.Contains(bench.Decisions, d => d.Status == StepStatus.Restart && d.Reason!.StartsWith("its slices were not all exchanged", StringComparison.Ordinal));
        bench.DeliverUntil(() => bench.Session.Finished && bench.Execution.InFlight is null);
        Assert.Equal(Engine.Value, bench.Hashes);
    }

    [Fact]
    public void ReplicasThatDisagreeFailTheRunNamingThem()
    {
        var bench = new ExecutionBench(Config, seed: 9) { Fault = (w, m) => w == "w1" && m is StepDone d ? d with { Checksum = d.Checksum ^ 1 } : m };
        bench.Join(2);
        bench.RunToEnd();

        Assert.Equal(StepStatus.Fail, bench.Last.Status);
        Assert.Equal(RunFailure.Disagreement, bench.Last.Failure);
        Assert.StartsWith("replicas disagree after step 1: w0 has checksum", bench.Last.Reason);
        Assert.Contains("w1 has", bench.Last.Reason);
    }

    [Fact]
    public void ReportsOfAnOlderGenerationOrAnotherIncarnationAreStale()
    {
        var bench = new ExecutionBench(Config, seed: 10) { Fault = (_, m) => m is StepDone d ? d with { Ref = d.Ref with { Generation = d.Ref.Generation + 1 } } : m is NodeDone n ? n with { Ref = n.Ref with { Incarnation = 1 } } : m };
        bench.Join(2);
        bench.RunToEnd();

        Assert.Empty(bench.Hashes);
        Assert.Equal(1, bench.Execution.InFlight);
        Assert.True(bench.Telemetry.Stale >= 4);
    }

    [Fact]
    public void WhenEveryReplicaIsGoneBetweenCapturesTheRunRewindsToItsLastSnapshot()
    {
        var bench = new ExecutionBench(Config, seed: 11);
        bench.Join(2);
        bench.Advance();
        bench.DeliverUntil(() => bench.Hashes.Count == 1);
        bench.Forgetful.Add("w1");
        bench.DeliverUntil(() => bench.Decisions.Any(d => d.Status == StepStatus.Restart));
        bench.Lose("w0");

        Assert.Equal(StepStatus.Rewind, bench.Last.Status);
        Assert.InRange(bench.Session.Step, 1, 2); // w1 forgot its replica at the next plan it got: step 2's or, planned ahead, step 3's
        Assert.StartsWith($"every replica was lost after step {bench.Session.Step}", bench.Last.Reason);
    }

    [Fact]
    public void OnlyMemberZeroMayHandInTheStateAskedForAndOnlyAMemberMayRefuseAPart()
    {
        var bench = new ExecutionBench(Config, seed: 12);
        bench.Join(2);
        bench.Advance();
        bench.Join(1, first: 2); // waits for a replica: the next step planned (the first after those planned ahead) asks member 0 for the state to send it
        bench.DeliverUntil(() => bench.Sent.Any(s => s is ("w0", StepPlan { Capture: true })));
        StepPlan plan = bench.PlanInFlight("w1");
        Assert.Equal(2 + StepPlan.PlansAhead, plan.Ref.Step);
        Assert.True(bench.PlanInFlight("w0").Capture);
        long stale = bench.Telemetry.Stale;

        bench.Apply(bench.Execution.Handle("w2", new PartRefused(plan.Ref, plan.Mine[0], "made up")));
        float[] state = new float[bench.Session.Network.ParameterCount];
        bench.Apply(bench.Execution.Handle("w1", new ReplicaState("r", 7, plan.Ref.Step, state, state)));

        Assert.Equal(stale + 2, bench.Telemetry.Stale);
        Assert.DoesNotContain(bench.Decisions, d => d.Status == StepStatus.Restart);
        Assert.Empty(bench.Quarantined);
        bench.DeliverUntil(() => bench.Session.Finished && bench.Execution.InFlight is null);
        Assert.Equal(Engine.Value, bench.Hashes);
    }
}

using CnnCluster.Coordinator.Runs.Steps;
using CnnCluster.Shared.Protocol;
using Xunit;

namespace CnnCluster.Coordinator.Tests.Runs;

/// <summary>
/// The control plane pipelined (issue 31): the plans of the <see cref="StepPlan.PlansAhead"/> steps after step t go out
/// with step t's, replicas begin each as they commit the one before, and whatever makes step t run again drops them,
/// also on a replica that had committed t and begun a step after it.
/// Real replicas through <see cref="ExecutionBench"/>'s queue, delivered in a seeded random order.
/// </summary>
public sealed class ShardedPipelineTests
{
    private static readonly RunConfig Config = ShardedExecutionTests.Config;

    [Fact]
    public void TheNextStepsPlanGoesOutWithTheStepsAndTheBitsStayTheEngines()
    {
        var bench = new ExecutionBench(Config, seed: 21);
        bench.Join(2);
        bench.Advance();

        // before anything came back: step 1's plan and those of the steps ahead, to each member, each of a later generation
        List<StepPlan> plans = bench.Sent.Select(s => s.Message).OfType<StepPlan>().ToList();
        Assert.Equal(Enumerable.Range(1, StepPlan.PlansAhead + 1).SelectMany(s => new long[] { s, s }), plans.Select(p => p.Ref.Step));
        Assert.True(plans.Zip(plans.Skip(1)).All(p => p.Item2.Ref.Step == p.Item1.Ref.Step || p.Item2.Ref > p.Item1.Ref));
        Assert.Equal(1, bench.Execution.InFlight);

        bench.DeliverUntil(() => bench.Session.Finished && bench.Execution.InFlight is null);
        Assert.Equal(ShardedExecutionTests.Engine.Value, bench.Hashes);
        Assert.Equal(ShardedExecutionTests.Steps, bench.Sent.Select(s => s.Message).OfType<StepPlan>().Select(p => p.Ref.Step).Max());
        Assert.DoesNotContain(bench.Log.Lines, l => l.Contains("out of step", StringComparison.Ordinal));
    }

    /// <summary>
    /// Member w0 commits step 1 (and the steps up to <paramref name="exchanging"/> - 1) and begins step
    /// <paramref name="exchanging"/> from the plans sent ahead; w1's reports never come and w1 is lost: step 1 runs again
    /// with w0 alone, which goes back to step 1's start (a start kept for every step it may be ahead), not out of step.
    /// </summary>
    [Theory]
    [InlineData(2, 22)]
    [InlineData(1 + StepPlan.PlansAhead, 25)]
    public void AReplicaThatBeganAStepPlannedAheadGoesBackWhenTheStepBeforeItRunsAgain(int exchanging, int seed)
    {
        var bench = new ExecutionBench(Config, seed) { Fault = (w, m) => w == "w1" && m is StepDone ? null : m };
        bench.Join(2);
        bench.Advance();
        bench.DeliverUntil(() => bench.Replica("w0").Exchanging?.Step == exchanging);
        Assert.Equal(exchanging - 1, bench.Replica("w0").Committed);
        Assert.Equal(1, bench.Execution.InFlight);

        bench.Lose("w1");
        Assert.Equal(StepStatus.Restart, bench.Decisions[^2].Status);
        bench.Fault = (_, m) => m;
        bench.DeliverUntil(() => bench.Session.Finished && bench.Execution.InFlight is null);

        Assert.Equal(ShardedExecutionTests.Engine.Value, bench.Hashes);
        Assert.DoesNotContain(bench.Log.Lines, l => l.Contains("out of step", StringComparison.Ordinal));
        Assert.Single(bench.Sent, s => s is ("w0", ReplicaInit)); // its state was never sent again
    }

    [Fact]
    public void NoStepIsPlannedAheadWhileAWorkerWaitsToJoinOrStepsAreChecked()
    {
        var verified = new ExecutionBench(Config with { Verify = 1 }, seed: 23);
        verified.Join(2);
        verified.Advance();
        List<StepPlan> verifiedPlans = verified.Sent.Select(s => s.Message).OfType<StepPlan>().ToList();
        Assert.Equal(2, verifiedPlans.Count); // step 1's, one per member, and no other
        Assert.All(verifiedPlans, p => Assert.Equal(1, p.Ref.Step));

        var joining = new ExecutionBench(Config, seed: 24);
        joining.Join(2);
        joining.Advance();
        joining.Join(1, first: 2);
        joining.DeliverUntil(() => joining.Hashes.Count == 1); // the steps after 1 in the window were planned ahead already; nothing after them is
        Assert.Equal(2, joining.Execution.InFlight);
        Assert.DoesNotContain(joining.Sent.Select(s => s.Message).OfType<StepPlan>(), p => p.Ref.Step > 1 + StepPlan.PlansAhead);

        joining.DeliverUntil(() => joining.Session.Finished && joining.Execution.InFlight is null);
        Assert.Equal(ShardedExecutionTests.Engine.Value, joining.Hashes);
        Assert.Equal(3, joining.Sent.Select(s => s.Message).OfType<StepPlan>().Last().Members.Length);
    }
}

using CnnCluster.Coordinator.Runs.Steps;
using CnnCluster.Shared.Protocol;
using Xunit;

namespace CnnCluster.Coordinator.Tests.Runs;

/// <summary>
/// The control plane pipelined (issue 31): the plan of step t + 1 goes out with step t's, replicas begin it as they
/// commit t, and whatever makes step t run again drops it, also on a replica that had committed t and begun t + 1.
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

        // before anything came back: step 1's plan and step 2's, to each member, step 2's of a later generation
        List<StepPlan> plans = bench.Sent.Select(s => s.Message).OfType<StepPlan>().ToList();
        Assert.Equal([1L, 1, 2, 2], plans.Select(p => p.Ref.Step));
        Assert.True(plans[2].Ref > plans[0].Ref);
        Assert.Equal(1, bench.Execution.InFlight);

        bench.DeliverUntil(() => bench.Session.Finished && bench.Execution.InFlight is null);
        Assert.Equal(ShardedExecutionTests.Engine.Value, bench.Hashes);
        Assert.Equal(ShardedExecutionTests.Steps, bench.Sent.Select(s => s.Message).OfType<StepPlan>().Select(p => p.Ref.Step).Max());
        Assert.DoesNotContain(bench.Log.Lines, l => l.Contains("out of step", StringComparison.Ordinal));
    }

    /// <summary>
    /// Member w0 commits step 1 and begins step 2 from the plan sent ahead; w1's report of step 1 never comes and w1
    /// is lost: step 1 runs again with w0 alone, which goes back to step 1's start (two starts kept), not out of step.
    /// </summary>
    [Fact]
    public void AReplicaThatBeganTheStepPlannedAheadGoesBackWhenTheStepBeforeItRunsAgain()
    {
        var bench = new ExecutionBench(Config, seed: 22) { Fault = (w, m) => w == "w1" && m is StepDone ? null : m };
        bench.Join(2);
        bench.Advance();
        bench.DeliverUntil(() => bench.Replica("w0").Exchanging?.Step == 2);
        Assert.Equal(1, bench.Replica("w0").Committed);
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
        joining.DeliverUntil(() => joining.Hashes.Count == 1); // step 2 was planned ahead already; nothing after it is
        Assert.Equal(2, joining.Execution.InFlight);
        Assert.DoesNotContain(joining.Sent.Select(s => s.Message).OfType<StepPlan>(), p => p.Ref.Step > 2);

        joining.DeliverUntil(() => joining.Session.Finished && joining.Execution.InFlight is null);
        Assert.Equal(ShardedExecutionTests.Engine.Value, joining.Hashes);
        Assert.Equal(3, joining.Sent.Select(s => s.Message).OfType<StepPlan>().Last().Members.Length);
    }
}

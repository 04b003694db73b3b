using CnnCluster.Coordinator.Cluster;
using CnnCluster.Coordinator.Runs.Steps;
using CnnCluster.Shared.Protocol;
using Xunit;

namespace CnnCluster.Coordinator.Tests;

/// <summary>The step scheduler alone: no actors, no clock (times are passed in), workers are strings.</summary>
public sealed class StepSchedulerTests
{
    private static readonly SchedulerSettings Settings = new(TimeSpan.FromSeconds(1), LateFactor: 3, TypicalFactor: 4, FirstStep: TimeSpan.FromSeconds(5));

    private static TimeSpan At(double seconds) => TimeSpan.FromSeconds(seconds);

    private static StepScheduler<string> With(params (string Name, int Threads)[] workers)
    {
        var scheduler = new StepScheduler<string>(Settings, StringComparer.Ordinal);
        foreach ((string name, int threads) in workers)
        {
            Assert.Empty(scheduler.Join(name, threads, At(0)));
        }

        return scheduler;
    }

    private static IEnumerable<TreeNode> NodesOf(IEnumerable<Dispatch<string>> dispatches, string worker) =>
        dispatches.Where(d => d.Worker == worker).SelectMany(d => d.Nodes);

    /// <summary>Every micro-shard in exactly one node, nodes aligned to their level.</summary>
    private static void AssertCoversOnce(IEnumerable<TreeNode> nodes, int microShards)
    {
        var covered = new int[microShards];
        foreach (TreeNode n in nodes)
        {
            Assert.Equal(0, n.Start % (1 << n.Level));
            for (int s = n.Start; s < Math.Min(microShards, n.Start + (1 << n.Level)); s++)
            {
                covered[s]++;
            }
        }

        Assert.All(covered, c => Assert.Equal(1, c));
    }

    [Fact]
    public void AssignsContiguousAlignedRangesInProportionToThreadsInAFixedOrder()
    {
        // joined out of order: the plan follows the comparer, not the order of joining
        StepScheduler<string> s = With(("b", 1), ("a", 3));
        IReadOnlyList<Dispatch<string>> plan = s.Begin(step: 0, microShards: 32, At(0));

        Assert.Equal(["a", "b"], plan.Select(d => d.Worker));
        Assert.All(plan, d => Assert.Equal(DispatchReason.Plan, d.Reason));
        Assert.Equal([new TreeNode(0, 4), new TreeNode(16, 3)], NodesOf(plan, "a"));
        Assert.Equal([new TreeNode(24, 3)], NodesOf(plan, "b"));
        AssertCoversOnce(plan.SelectMany(d => d.Nodes), 32);
        Assert.Equal(3, s.Pending);
    }

    [Fact]
    public void WithoutWorkersNoStepBegins()
    {
        var s = new StepScheduler<string>(Settings, StringComparer.Ordinal);
        Assert.Empty(s.Begin(0, 8, At(0)));
        Assert.Null(s.Step);
    }

    [Fact]
    public void TheStepCompletesWhenEveryNodeIsInAndOnlyTheFirstAnswerCounts()
    {
        StepScheduler<string> s = With(("a", 1), ("b", 1));
        IReadOnlyList<Dispatch<string>> plan = s.Begin(7, 8, At(0));
        TreeNode aNode = NodesOf(plan, "a").Single();
        TreeNode bNode = NodesOf(plan, "b").Single();

        Assert.Equal(ResultOutcome.Accepted, s.Accept("a", 7, aNode, At(1)));
        Assert.False(s.Complete);
        Assert.Equal(ResultOutcome.Duplicate, s.Accept("a", 7, aNode, At(1.1)));
        Assert.Equal(ResultOutcome.Duplicate, s.Accept("a", 7, new TreeNode(bNode.Start, 0), At(1.2))); // not the node that was sent
        Assert.Equal(ResultOutcome.Stale, s.Accept("b", 6, bNode, At(1.3)));
        Assert.Equal(ResultOutcome.Accepted, s.Accept("b", 7, bNode, At(1.4)));
        Assert.True(s.Complete);

        s.End(At(1.5));
        Assert.Null(s.Step);
        Assert.Equal(ResultOutcome.Stale, s.Accept("b", 7, bNode, At(2))); // late duplicate of an ended step
    }

    [Fact]
    public void ALostWorkersNodesMoveToTheOthersInTheSameStep()
    {
        StepScheduler<string> s = With(("a", 1), ("b", 1), ("c", 1));
        IReadOnlyList<Dispatch<string>> plan = s.Begin(0, 12, At(0));
        TreeNode[] lost = NodesOf(plan, "b").ToArray();
        Assert.Equal(ResultOutcome.Accepted, s.Accept("a", 0, NodesOf(plan, "a").Single(), At(0.5)));

        IReadOnlyList<Dispatch<string>> moved = s.Lose("b", At(1));

        Assert.All(moved, d => Assert.Equal(DispatchReason.Orphaned, d.Reason));
        Assert.DoesNotContain(moved, d => d.Worker == "b");
        Assert.Equal(lost.OrderBy(n => n.Start), moved.SelectMany(d => d.Nodes).OrderBy(n => n.Start));
        Assert.DoesNotContain("b", s.Available());

        // the lost worker's late answer still counts (both are equal), the second one does not
        TreeNode first = lost[0];
        string newOwner = moved.First(d => d.Nodes.Contains(first)).Worker;
        Assert.Equal(ResultOutcome.Accepted, s.Accept("b", 0, first, At(1.1)));
        Assert.Equal(ResultOutcome.Duplicate, s.Accept(newOwner, 0, first, At(1.2)));
    }

    [Fact]
    public void WhenEveryWorkerIsLostTheNodesWaitAndGoToTheNextWorkerThatJoins()
    {
        StepScheduler<string> s = With(("a", 1));
        IReadOnlyList<Dispatch<string>> plan = s.Begin(3, 8, At(0));
        Assert.Empty(s.Lose("a", At(1)));
        Assert.Equal(plan.SelectMany(d => d.Nodes).Count(), s.Orphans);
        Assert.Empty(s.Tick(At(2)));

        IReadOnlyList<Dispatch<string>> joined = s.Join("z", 2, At(3));

        Assert.Equal(plan.SelectMany(d => d.Nodes), joined.Single(d => d.Worker == "z").Nodes);
        Assert.Equal(0, s.Orphans);
    }

    [Fact]
    public void AWorkerJoiningMidStepTakesNothingFromTheRunningPlanButSharesTheNextStep()
    {
        StepScheduler<string> s = With(("a", 1));
        IReadOnlyList<Dispatch<string>> plan = s.Begin(0, 8, At(0));
        Assert.Empty(s.Join("b", 1, At(0.1)));
        Assert.Equal(ResultOutcome.Accepted, s.Accept("a", 0, plan.Single().Nodes.Single(), At(0.2)));
        s.End(At(0.3));

        IReadOnlyList<Dispatch<string>> next = s.Begin(1, 8, At(0.4));
        Assert.Equal(["a", "b"], next.Select(d => d.Worker));
    }

    [Fact]
    public void ANodePastItsDeadlineGoesToOneMoreWorkerAndTheLateOneGetsNoNewWorkUntilItAnswers()
    {
        StepScheduler<string> s = With(("a", 1), ("b", 1));
        IReadOnlyList<Dispatch<string>> plan = s.Begin(0, 8, At(0));
        TreeNode aNode = NodesOf(plan, "a").Single();
        TreeNode bNode = NodesOf(plan, "b").Single();
        Assert.Equal(ResultOutcome.Accepted, s.Accept("a", 0, aNode, At(0.5)));

        // 3 × the slowest done node (0.5 s) is 1.5 s: not late at 1.4 s, late at 1.6 s
        Assert.Empty(s.Tick(At(1.4)));
        IReadOnlyList<Dispatch<string>> backup = s.Tick(At(1.6));
        Dispatch<string> twin = Assert.Single(backup);
        Assert.Equal(("a", DispatchReason.Speculative), (twin.Worker, twin.Reason));
        Assert.Equal([bNode], twin.Nodes);
        Assert.Empty(s.Tick(At(1.7))); // already doubled
        Assert.Equal(["a"], s.Available());

        // the first answer wins; the late worker is trusted again once it answers
        Assert.Equal(ResultOutcome.Accepted, s.Accept("a", 0, bNode, At(1.8)));
        Assert.Equal(ResultOutcome.Duplicate, s.Accept("b", 0, bNode, At(1.9)));
        Assert.Equal(["a", "b"], s.Available());
    }

    [Fact]
    public void BeforeAnyNodeIsInTheDeadlineIsFourTypicalStepsAndNeverBelowTheMinimum()
    {
        StepScheduler<string> s = With(("a", 1), ("b", 1));

        // the first step's typical duration is the setting (5 s): late after 20 s
        s.Begin(0, 8, At(0));
        Assert.Empty(s.Tick(At(19)));
        Assert.Equal("b", Assert.Single(s.Tick(At(21))).Worker); // a's node to b; b's node has nobody else (a is now a suspect)
        s.End(At(21), committed: false);
        Assert.Equal(ResultOutcome.Stale, s.Accept("a", 0, new TreeNode(0, 2), At(21.5))); // a answers: trusted again

        // committed steps teach it: 30 fast steps bring the deadline down to the 1 s minimum
        for (int step = 1; step <= 30; step++)
        {
            IReadOnlyList<Dispatch<string>> plan = s.Begin(step, 8, At(100 + step));
            foreach (Dispatch<string> d in plan)
            {
                foreach (TreeNode n in d.Nodes)
                {
                    s.Accept(d.Worker, step, n, At(100 + step + 0.01));
                }
            }

            s.End(At(100 + step + 0.01));
        }

        s.Begin(31, 8, At(200));
        Assert.Empty(s.Tick(At(200.9)));
        Assert.Single(s.Tick(At(201.1)));
    }

    [Fact]
    public void AnExcludedWorkerNeverComesBackAndItsNodesMove()
    {
        StepScheduler<string> s = With(("a", 1), ("b", 1));
        IReadOnlyList<Dispatch<string>> plan = s.Begin(0, 8, At(0));

        IReadOnlyList<Dispatch<string>> moved = s.Exclude("b", At(1));

        Assert.Equal(NodesOf(plan, "b"), NodesOf(moved, "a"));
        Assert.Empty(s.Join("b", 4, At(2)));
        Assert.Equal(["a"], s.Available());
    }

    [Fact]
    public void UnassigningAWorkerWhoseLinkFailedGivesItsNodesOutAgainPossiblyToItself()
    {
        StepScheduler<string> s = With(("a", 1));
        IReadOnlyList<Dispatch<string>> plan = s.Begin(0, 8, At(0));

        IReadOnlyList<Dispatch<string>> again = s.Unassign("a", At(1));

        Assert.Equal(("a", DispatchReason.Orphaned), (again.Single().Worker, again.Single().Reason));
        Assert.Equal(plan.Single().Nodes, again.Single().Nodes);
    }

    [Fact]
    public void ARefusedResultsNodeGoesToAnotherWorkerAndNeverBackToIt()
    {
        StepScheduler<string> s = With(("a", 1), ("b", 1));
        IReadOnlyList<Dispatch<string>> plan = s.Begin(0, 8, At(0));
        TreeNode bNode = NodesOf(plan, "b").Single();

        IReadOnlyList<Dispatch<string>> again = s.Refuse("b", 0, bNode, At(1));

        Assert.Equal(("a", DispatchReason.Recompute), (again.Single().Worker, again.Single().Reason));
        Assert.Equal([bNode], again.Single().Nodes);
        Assert.Equal(ResultOutcome.Unassigned, s.Accept("b", 0, bNode, At(1.1)));
        Assert.Equal(ResultOutcome.Accepted, s.Accept("a", 0, bNode, At(1.2)));
    }

    [Fact]
    public void AResultFromAWorkerNeverGivenTheNodeDoesNotCount()
    {
        StepScheduler<string> s = With(("a", 1), ("b", 1));
        IReadOnlyList<Dispatch<string>> plan = s.Begin(0, 8, At(0));
        TreeNode bNode = NodesOf(plan, "b").Single();

        Assert.Equal(ResultOutcome.Unassigned, s.Accept("a", 0, bNode, At(0.5)));
        Assert.Equal(ResultOutcome.Accepted, s.Accept("b", 0, bNode, At(0.6)));
    }

    [Fact]
    public void AVerifiedNodeGoesToTwoWorkersAndADisagreementIsSettledByAThird()
    {
        StepScheduler<string> s = With(("a", 1), ("b", 1), ("c", 1));
        IReadOnlyList<Dispatch<string>> plan = s.Begin(0, 8, At(0), node => node.Start == 0);
        TreeNode checkedNode = NodesOf(plan, "a").First(n => n.Start == 0);
        Dispatch<string> second = plan.Single(d => d.Reason == DispatchReason.Verify);
        Assert.Equal([checkedNode], second.Nodes);
        Assert.NotEqual("a", second.Worker);

        // the two answers differ: held, then sent to the one worker that has not answered
        Assert.Equal(ResultOutcome.Held, s.Accept("a", 0, checkedNode, At(1), 111, out _, out _));
        Assert.Equal(ResultOutcome.Held, s.Accept(second.Worker, 0, checkedNode, At(1.1), 222, out _, out _));
        Dispatch<string> third = s.Reassign(At(1.2)).Single();
        Assert.Equal([checkedNode], third.Nodes);
        Assert.DoesNotContain(third.Worker, new[] { "a", second.Worker });

        // the third agrees with a: a's answer counts and the second worker is outvoted
        Assert.Equal(ResultOutcome.Accepted, s.Accept(third.Worker, 0, checkedNode, At(1.3), 111, out ulong agreed, out IReadOnlyList<string> outvoted));
        Assert.Equal(111UL, agreed);
        Assert.Equal([second.Worker], outvoted);
    }
}

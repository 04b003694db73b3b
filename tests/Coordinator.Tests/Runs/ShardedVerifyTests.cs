using CnnCluster.Coordinator.Runs.Steps;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.Protocol;
using Xunit;

namespace CnnCluster.Coordinator.Tests.Runs;

/// <summary>
/// --verify in a sharded run, through <see cref="ExecutionBench"/> (the execution and real replicas, messages in a
/// seeded random order): verified nodes are computed by two members and voted on by their part digests, every slice's
/// sum is made by its owner and its checker and committed only as both reported it. A member that computes wrongly,
/// an owner that reports a sum other than the parts' sum, an owner that sends its peers other values than it reported:
/// each is caught, the first two struck (quarantined at the second) and the step run again, and every replica commits
/// the engine's bits.
/// </summary>
public sealed class ShardedVerifyTests
{
    private const int Steps = ShardedExecutionTests.Steps;
    private static readonly Lazy<string[]> Engine = ShardedExecutionTests.Engine;

    private static RunConfig Config(double verify) => ShardedExecutionTests.Config with { Verify = verify };

    [Theory]
    [InlineData(2, 1.0, 1)]
    [InlineData(3, 1.0, 2)]
    [InlineData(3, 0.5, 3)]
    public void VerifiedNodesAndCheckedSumsGiveTheEnginesBits(int members, double verify, int seed)
    {
        var bench = new ExecutionBench(Config(verify), seed);
        bench.Join(members);
        bench.RunToEnd();

        Assert.True(bench.Log.Lines.All(l => l.StartsWith("info", StringComparison.Ordinal)), string.Join("\n", bench.Log.Lines));
        Assert.Equal(Engine.Value, bench.Hashes);
        Assert.All(bench.Sent.Select(s => s.Message).OfType<StepPlan>(), p => Assert.True(p.Checked, $"plan {p.Ref} for member {p.Me} of {p.Members.Length} is not checked"));
        Assert.True(bench.Telemetry.Verified > 0);
        Assert.Equal(0, bench.Telemetry.Disagreements);
        Assert.Equal(members * Steps, bench.Sent.Count(s => s.Message is SumsAgreed));
    }

    /// <summary>With --verify a lone member is not trusted: the run waits for a second, then every step is checked.</summary>
    [Fact]
    public void ALoneMemberWaitsForASecondToCompareWith()
    {
        var bench = new ExecutionBench(Config(1.0), seed: 7);
        bench.Join(1);
        bench.Advance();
        Assert.Equal(StepStatus.Wait, bench.Last.Status);
        Assert.Equal(ShardedExecution<string>.VerifyNeedsTwo, bench.Last.Reason);
        Assert.DoesNotContain(bench.Sent, s => s.Message is StepPlan);

        bench.Join(1, first: 1);
        bench.RunToEnd();
        Assert.Equal(Engine.Value, bench.Hashes);
        Assert.All(bench.Sent.Select(s => s.Message).OfType<StepPlan>(), p => Assert.True(p.Checked));
    }

    [Fact]
    public void AMemberThatComputesWronglyIsOutvotedStruckAndQuarantinedAndTheBitsStayTheEngines()
    {
        var bench = new ExecutionBench(Config(1.0), seed: 4);
        bench.ComputeFault = (worker, g) =>
        {
            if (worker == "w1")
            {
                g[g.Length / 3] += 1e-3f; // finite and plausible: only a second computation tells
            }

            return g;
        };
        bench.Join(3);
        bench.RunToEnd();

        Assert.Equal(Engine.Value, bench.Hashes);
        Assert.Equal(["w1"], bench.Quarantined);
        Assert.True(bench.Telemetry.Disagreements >= 2);
        Assert.Contains(bench.Log.Lines, l => l.Contains("worker w1 computed node", StringComparison.Ordinal) && l.Contains("differently from two others", StringComparison.Ordinal));
    }

    /// <summary>
    /// Two members that compute a node differently (one of them once, as a faulty machine would): nobody is left to
    /// settle it, so the step runs again (a worker waiting to join would be brought in), and the bits stay the engine's.
    /// </summary>
    [Fact]
    public void TwoMembersThatDisagreeOnANodeRunTheStepAgain()
    {
        var bench = new ExecutionBench(Config(1.0), seed: 8);
        int faults = 0;
        bench.ComputeFault = (worker, g) =>
        {
            if (worker == "w1" && faults++ == 0)
            {
                g[0] += 1e-3f;
            }

            return g;
        };
        bench.Join(2);
        bench.RunToEnd();

        Assert.Equal(Engine.Value, bench.Hashes);
        Assert.Contains(bench.Decisions, d => d.Status == StepStatus.Restart && d.Reason!.Contains("none of them is left to settle it", StringComparison.Ordinal));
        Assert.Empty(bench.Quarantined);
    }

    [Fact]
    public void AnOwnerThatReportsASumOtherThanItsPartsSumIsSettledFromThePartsAndStruck()
    {
        var bench = new ExecutionBench(Config(1.0), seed: 5);
        int lies = 0;
        bench.Fault = (worker, m) => m is SumReport r && worker == "w1" && r.Slice == 1 && lies++ < 1
            ? r with { Digest = ParameterHash.OfSlice([0.01f], 0) }
            : m;
        bench.Join(3);
        bench.RunToEnd();

        Assert.Equal(Engine.Value, bench.Hashes);
        Assert.Contains(bench.Log.Lines, l => l.Contains("the sum of slice 1 differs between its owner w1 and its checker w2", StringComparison.Ordinal));
        Assert.Contains(bench.Log.Lines, l => l.Contains("worker w1 is wrong: it reported a sum of slice 1 that is not the sum of the agreed parts", StringComparison.Ordinal));
        Assert.Contains(bench.Decisions, d => d.Status == StepStatus.Restart && d.Reason!.Contains("settled against w1", StringComparison.Ordinal));
        Assert.Empty(bench.Quarantined); // one strike
    }

    [Fact]
    public void AnOwnerThatSendsItsPeersOtherValuesThanItReportedChangesNothing()
    {
        var bench = new ExecutionBench(Config(1.0), seed: 6);
        bench.PeerFault = (from, to, m) => m is SliceSum s && from == "w1" && s.Slice == 1
            ? s with { Values = s.Values.Select(v => v + 0.01f).ToArray() }
            : m;
        bench.Join(3);
        bench.RunToEnd();

        // every member commits with the checker's copy, the one whose SHA-256 both summers reported
        Assert.Equal(Engine.Value, bench.Hashes);
        Assert.Equal(0, bench.Telemetry.Disagreements);
    }
}

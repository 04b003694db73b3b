using CnnCluster.Coordinator.Runs;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.Protocol;
using Xunit;

namespace CnnCluster.Coordinator.Tests.Runs;

/// <summary>A run's state given its events (no actor): what recovery and live events both go through.</summary>
public sealed class RunStateTests
{
    private static readonly RunConfig Config = RunConfig.From(Presets.LeNet5, "lenet5", new TrainingOptions { Epochs = 1 }, 512);

    private static StepRecorded Step(long step, string hash = "") => new(step, 0, 1.0 / step, 0.01, hash.PadRight(64, '0'), step * 64, step);

    private static SnapshotRecorded Snapshot(long seq, long step) => new(seq, step, 100, "c", DateTime.UnixEpoch);

    private static RunState Of(params IRunEvent[] events) => events.Aggregate(RunState.Empty, (s, e) => s.Updated(e));

    [Fact]
    public void EventsBuildTheHistory()
    {
        RunState state = Of(new RunStarted("r", Config, "src", 4), Step(1), new StepsRecorded([Step(2), Step(3)]),
            new EpochRecorded(0, 3, 0.5, 0.6, 0.8, 3, 64), Snapshot(5, 3));

        Assert.True(state.Started);
        Assert.Equal("src", state.ForkedFrom);
        Assert.Equal([1L, 2, 3], state.Steps.Select(s => s.Step));
        Assert.Equal(0.8, state.LastAccuracy);
        Assert.Equal([5L], state.Snapshots.Keys);
        Assert.Null(state.Ended);
        Assert.Equal(RunPhase.Running, state.PhaseWhile(RunPhase.Running));
        Assert.Equal(RunPhase.Waiting, state.PhaseWhile(RunPhase.Waiting));
    }

    [Fact]
    public void PrunedAndRejectedSnapshotsAreNoLongerUsable()
    {
        RunState state = Of(Snapshot(3, 10), Snapshot(6, 20), Snapshot(9, 30), new SnapshotsPruned(3), new SnapshotRejected(9, "checksum"));
        Assert.Equal([6L], state.Snapshots.Keys);
    }

    [Theory]
    [InlineData(RunOutcome.Completed, RunPhase.Completed)]
    [InlineData(RunOutcome.Stopped, RunPhase.Stopped)]
    [InlineData(RunOutcome.Failed, RunPhase.Failed)]
    public void AnEndGivesThePhaseAndAResumeTakesItBack(RunOutcome outcome, RunPhase phase)
    {
        RunState ended = Of(Step(1), new RunEnded(outcome, 1, null, "why"));
        Assert.Equal(outcome, ended.Ended!.Outcome);
        Assert.Equal(outcome.ToWire(), ended.Ended.Status);
        Assert.Equal(phase, ended.PhaseWhile(RunPhase.Running));

        RunState resumed = ended.Updated(new RunResumed("r", ended.Ended.Status));
        Assert.Null(resumed.Ended);
        Assert.Equal(RunPhase.Running, resumed.PhaseWhile(RunPhase.Running));
    }

    [Fact]
    public void AnOldJournalsWordForAnEndReadsAsAFailure()
    {
        Assert.Equal(RunOutcome.Failed, new RunEnded("diverged", 3, null, null).Outcome);
        Assert.Null(RunOutcomes.ParsePhase("ended"));
        Assert.Equal(RunPhase.Paused, RunOutcomes.ParsePhase("paused"));
    }

    [Fact]
    public void RewindingToARestoredStepTakesOutTheLaterStepsAndChecksThemWhenRecomputed()
    {
        RunState state = Of(Step(1, "a"), Step(2, "b"), new WorkerQuarantined(3, "w2", "two failures"), Step(3, "c"), new EpochRecorded(0, 3, 0.5, 0.6, 0.8, 3, 64));
        (RunState rewound, RecomputeCheck check) = state.RewoundTo(1);
        Assert.Equal(["w2"], rewound.Quarantines.Select(q => q.Worker)); // a worker that failed did fail

        Assert.Equal([1L], rewound.Steps.Select(s => s.Step));
        Assert.Empty(rewound.Epochs);
        Assert.True(check.Recomputes(2));
        Assert.False(check.Recomputes(1));
        Assert.Contains(3L, check.EpochSteps);
        Assert.Null(check.Problem(2, "b".PadRight(64, '0')));
        Assert.StartsWith("determinism violated: step 3 recomputed after a restart has parameter hash dddd", check.Problem(3, "d".PadRight(64, 'd')));
        Assert.False(rewound.EndJournaled);
    }

    [Fact]
    public void ACompletedRunRestoredBeforeItsEndRecomputesTheRestWithoutJournalingTheEndAgain()
    {
        RunState state = Of(Step(1), Step(2), new RunEnded(RunOutcome.Completed, 2, "h", null));
        (RunState rewound, RecomputeCheck _) = state.RewoundTo(1);
        Assert.Null(rewound.Ended);
        Assert.True(rewound.EndJournaled);

        RunState again = rewound.Updated(new RunEnded(RunOutcome.Completed, 2, "h", null));
        Assert.False(again.EndJournaled);
        Assert.Equal(RunPhase.Completed, again.PhaseWhile(RunPhase.Running));

        // a failed or stopped run is not recomputed: its end stands
        (RunState stopped, RecomputeCheck _) = Of(Step(1), Step(2), new RunEnded(RunOutcome.Stopped, 2, "h", "by a user")).RewoundTo(1);
        Assert.Equal(RunOutcome.Stopped, stopped.Ended!.Outcome);
    }
}

using CnnCluster.Coordinator.Runs;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.Protocol;
using Xunit;

namespace CnnCluster.Coordinator.Tests.Runs;

/// <summary>The run's journal batching and recompute check with a persist delegate that records what it is given.</summary>
public sealed class RunJournalTests
{
    private readonly List<IRunEvent> _persisted = new();
    private readonly List<IRunEvent> _recorded = new();
    private readonly RunJournal _journal;

    public RunJournalTests()
    {
        _journal = new RunJournal((e, then) =>
        {
            _persisted.Add(e);
            then(e);
        }, _recorded.Add, new StepPhaseLog());
    }

    private static StepRecorded Step(long step, char hash = 'a') => new(step, 0, 1, 0.01, new string(hash, 64), step, step);

    [Fact]
    public void StepsAreJournaledInGroupsAndEveryOtherEventAfterTheStepsBeforeIt()
    {
        for (long s = 1; s <= RunJournal.Batch + 3; s++)
        {
            Assert.Null(_journal.Step(Step(s)));
        }

        Assert.Equal(RunJournal.Batch, Assert.IsType<StepsRecorded>(Assert.Single(_persisted)).Steps.Length);
        Assert.False(_journal.Idle);

        _journal.Event(new SnapshotsPruned(4));
        Assert.Equal(3, Assert.IsType<StepsRecorded>(_persisted[1]).Steps.Length);
        Assert.IsType<SnapshotsPruned>(_persisted[2]);
        Assert.True(_journal.Idle);
        Assert.Equal(_persisted, _recorded);
    }

    [Fact]
    public void ARecomputedStepIsCheckedNotJournaledAndADifferentOneIsNamed()
    {
        _journal.Rewound(new RecomputeCheck(new Dictionary<long, string> { [2] = new string('b', 64), [3] = new string('c', 64) }, new HashSet<long> { 3 }));

        Assert.Null(_journal.Step(Step(2, 'b')));
        _journal.Epoch(new EpochRecorded(0, 3, 1, 1, 0.5, 1, 1));
        Assert.Empty(_persisted);
        Assert.Equal(2, _recorded.Count);

        Assert.Equal("determinism violated: step 3 recomputed after a restart has parameter hash xxxxxxxxxxxx, the journal says cccccccccccc", _journal.Step(Step(3, 'x')));
        Assert.Null(_journal.Step(Step(4)));
        _journal.Flush();
        Assert.Equal([4L], Assert.IsType<StepsRecorded>(Assert.Single(_persisted)).Steps.Select(s => s.Step));
    }
}

using System.Collections.Immutable;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Runs;

/// <summary>
/// A run's journaled history as one immutable value: the events it recorded (start, steps, epochs,
/// snapshots, end) applied by <see cref="Updated"/>, the one transition function used by recovery and by
/// live persist callbacks alike (as Akka's ShardCoordinator does with its CoordinatorState).
/// </summary>
public sealed record RunState
{
    public static RunState Empty { get; } = new();

    public bool Started { get; init; }

    public string? ForkedFrom { get; init; }

    public ImmutableList<StepRecorded> Steps { get; init; } = ImmutableList<StepRecorded>.Empty;

    public ImmutableList<EpochRecorded> Epochs { get; init; } = ImmutableList<EpochRecorded>.Empty;

    /// <summary>Usable snapshots by sequence number (pruned and rejected ones removed).</summary>
    public ImmutableSortedDictionary<long, SnapshotRecorded> Snapshots { get; init; } = ImmutableSortedDictionary<long, SnapshotRecorded>.Empty;

    public RunEnded? Ended { get; init; }

    /// <summary>Workers quarantined in this run (kept over rewinds: a worker that failed did fail).</summary>
    public ImmutableList<WorkerQuarantined> Quarantines { get; init; } = ImmutableList<WorkerQuarantined>.Empty;

    /// <summary>
    /// The run completed, but its last snapshot was unusable: the last steps are recomputed (checked
    /// against the journal), and the end, already in the journal, is not journaled again.
    /// </summary>
    public bool EndJournaled { get; init; }

    public double? LastAccuracy => Epochs.Count > 0 ? Epochs[^1].TestAccuracy : null;

    public RunState Updated(IRunEvent e) => e switch
    {
        RunStarted s => this with { Started = true, ForkedFrom = s.ForkedFrom },
        StepRecorded s => this with { Steps = Steps.Add(s) },
        StepsRecorded group => this with { Steps = Steps.AddRange(group.Steps) },
        EpochRecorded ep => this with { Epochs = Epochs.Add(ep) },
        SnapshotRecorded r => this with { Snapshots = Snapshots.SetItem(r.SequenceNr, r) },
        SnapshotsPruned p => this with { Snapshots = Snapshots.RemoveRange(Snapshots.Keys.Where(k => k <= p.UpToSequenceNr)) },
        SnapshotRejected r => this with { Snapshots = Snapshots.Remove(r.SequenceNr) },
        WorkerQuarantined q => this with { Quarantines = Quarantines.Add(q) },
        RunEnded end => this with { Ended = end, EndJournaled = false },
        RunResumed => this with { Ended = null, EndJournaled = false },
        _ => throw new ArgumentException($"{e.GetType().Name} has no transition in a run's state"),
    };

    /// <summary>
    /// The history as of a restore at <paramref name="step"/>: later steps and epochs are taken out (they
    /// will be recomputed) and returned, so each recomputed one can be checked against its record. A
    /// completion after <paramref name="step"/> is taken back too (its end stays journaled).
    /// </summary>
    public (RunState State, RecomputeCheck Check) RewoundTo(long step)
    {
        var check = new RecomputeCheck(
            Steps.Where(s => s.Step > step).ToDictionary(s => s.Step, s => s.ParamSha256),
            Epochs.Where(e => e.Step > step).Select(e => e.Step).ToHashSet());
        RunState state = this with { Steps = Steps.RemoveAll(s => s.Step > step), Epochs = Epochs.RemoveAll(e => e.Step > step) };
        if (Ended is { Outcome: RunOutcome.Completed } completed && step < completed.Step)
        {
            state = state with { Ended = null, EndJournaled = true };
        }

        return (state, check);
    }

    /// <summary>The phase of a run in this state: <paramref name="live"/> is what it does while it has not ended.</summary>
    public RunPhase PhaseWhile(RunPhase live) => Ended is { } ended ? ended.Outcome.Phase() : live;
}

/// <summary>What the journal says of the steps and epochs after a restore, which are recomputed and must agree.</summary>
public sealed record RecomputeCheck(IReadOnlyDictionary<long, string> StepHashes, IReadOnlySet<long> EpochSteps)
{
    public static RecomputeCheck None { get; } = new(new Dictionary<long, string>(), new HashSet<long>());

    /// <summary>A recomputed step's problem, or null: it must be the very step the journal holds.</summary>
    public string? Problem(long step, string hash) =>
        StepHashes.TryGetValue(step, out string? expected) && expected != hash
            ? $"determinism violated: step {step} recomputed after a restart has parameter hash {hash[..12]}, the journal says {expected[..12]}"
            : null;

    public bool Recomputes(long step) => StepHashes.ContainsKey(step);
}

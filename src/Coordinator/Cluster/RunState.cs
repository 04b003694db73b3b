using System.Collections.Immutable;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Cluster;

/// <summary>Where a run is, as its actor behaves.</summary>
public enum RunPhase
{
    /// <summary>Recovering its journal and loading its snapshot.</summary>
    Starting,

    /// <summary>Computing steps.</summary>
    Running,

    /// <summary>Nothing to compute with: no worker, or all of them lost mid-step.</summary>
    Waiting,

    /// <summary>Its store failed (disk full, read-only, unreachable): it comes back by itself when the store works.</summary>
    Paused,

    Completed,
    Stopped,
    Failed,
}

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

    public RunState Updated(object e) => e switch
    {
        RunStarted s => this with { Started = true, ForkedFrom = s.ForkedFrom },
        StepRecorded s => this with { Steps = Steps.Add(s) },
        StepsRecorded group => this with { Steps = Steps.AddRange(group.Steps) },
        EpochRecorded ep => this with { Epochs = Epochs.Add(ep) },
        SnapshotRecorded r => this with { Snapshots = Snapshots.SetItem(r.SequenceNr, r) },
        SnapshotsPruned p => this with { Snapshots = Snapshots.RemoveRange(Snapshots.Keys.Where(k => k <= p.UpToSequenceNr)) },
        SnapshotRejected r => this with { Snapshots = Snapshots.Remove(r.SequenceNr) },
        RunEnded end => this with { Ended = end },
        RunResumed => this with { Ended = null },
        _ => throw new ArgumentException($"{e.GetType().Name} is not a run event"),
    };

    /// <summary>
    /// The history as of a restore at <paramref name="step"/>: later steps and epochs are taken out (they
    /// will be recomputed) and returned, so each recomputed one can be checked against its record.
    /// </summary>
    public (RunState State, IReadOnlyDictionary<long, string> StepHashes, IReadOnlySet<long> EpochSteps) RewoundTo(long step)
    {
        var hashes = Steps.Where(s => s.Step > step).ToDictionary(s => s.Step, s => s.ParamSha256);
        var epochs = Epochs.Where(e => e.Step > step).Select(e => e.Step).ToHashSet();
        var state = this with { Steps = Steps.RemoveAll(s => s.Step > step), Epochs = Epochs.RemoveAll(e => e.Step > step) };
        return (state, hashes, epochs);
    }

    /// <summary>The phase an ended run is in.</summary>
    public static RunPhase PhaseOf(RunEnded ended) => ended.Status switch
    {
        "completed" => RunPhase.Completed,
        "stopped" => RunPhase.Stopped,
        _ => RunPhase.Failed,
    };
}

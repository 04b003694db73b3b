using System.Diagnostics;
using CnnCluster.Coordinator.Persistence;
using CnnCluster.Coordinator.Telemetry;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Runs;

/// <summary>
/// A run's snapshots: one save in flight at a time (so replies match their snapshot; a wanted one
/// follows it), each journaled once stored, only the newest <see cref="RunConfig.KeepSnapshots"/> kept.
/// The actor passes its save and delete, and whether the session's parameters are the run's now (in a sharded
/// run only after a capture); a failed save is the actor's to classify.
/// </summary>
public sealed class RunSnapshots(string runId, RunConfig config, TrainingSession session, RunJournal journal, StepPhaseLog phases, Func<bool> parametersCurrent, Action<RunSnapshot> save, Action<long> deleteUpTo)
{
    private (long Step, string Checksum, long Bytes)? _saving;
    private bool _wanted;
    private long _lastStep = -1;

    /// <summary>True while a save is in flight.</summary>
    public bool Saving => _saving is not null;

    /// <summary>The step of the save in flight.</summary>
    public long? SavingStep => _saving?.Step;

    /// <summary>The run continues from the snapshot of <paramref name="step"/> (none to take again there).</summary>
    public void Restored(long step) => _lastStep = step;

    /// <summary>True when the run did not continue from a snapshot (a fork must take its first).</summary>
    public bool NothingRestored => _lastStep < 0;

    /// <summary>Snapshots the session's state now, unless taken already or the session's parameters are not the run's.</summary>
    public void Take()
    {
        if (_lastStep == session.Step || !parametersCurrent())
        {
            return; // taken, or (sharded) the replicas' state after this step was not asked for
        }

        if (_saving is not null)
        {
            _wanted = true;
            return;
        }

        long start = Stopwatch.GetTimestamp();
        RunSnapshot snapshot = SnapshotChecksum.Create(runId, session.Capture());
        _saving = (snapshot.Step, snapshot.Checksum, 8L * snapshot.Parameters.Length);
        _lastStep = snapshot.Step;
        save(snapshot);
        phases.AddSince(StepPhase.Snapshot, start);
    }

    /// <summary>The save in flight is stored as <paramref name="sequenceNr"/>: journaled, and the next wanted one taken.</summary>
    public void Saved(long sequenceNr, DateTime timestamp)
    {
        if (_saving is not { } saving)
        {
            return; // a reply for an earlier incarnation
        }

        journal.Event(new SnapshotRecorded(sequenceNr, saving.Step, saving.Bytes, saving.Checksum, timestamp));
        ClusterMeters.SnapshotSaved(saving.Bytes);
        Done();
    }

    /// <summary>The save in flight failed (for a reason that leaves later ones possible): the next one is due as usual.</summary>
    public void Failed()
    {
        _lastStep = -1;
        Done();
    }

    /// <summary>Keeps the newest N snapshots of <paramref name="state"/>: older ones are deleted and the pruning journaled.</summary>
    public void Prune(RunState state)
    {
        if (state.Snapshots.Count > config.KeepSnapshots)
        {
            long upTo = state.Snapshots.Keys.Reverse().Skip(config.KeepSnapshots).First();
            deleteUpTo(upTo);
            journal.Event(new SnapshotsPruned(upTo));
        }
    }

    private void Done()
    {
        _saving = null;
        if (_wanted)
        {
            _wanted = false;
            Take();
        }
    }
}

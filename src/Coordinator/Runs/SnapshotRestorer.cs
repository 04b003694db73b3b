using Akka.Actor;
using Akka.Persistence;
using CnnCluster.Coordinator.Persistence;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Runs;

/// <summary>
/// A run's hand-off at its start (a child of the run actor): loads the newest snapshot that passes its
/// checksum among the ones its journal names, newest first, and tells its parent which one it is and
/// which it rejected (the parent journals those). A store that cannot answer now is not a bad snapshot:
/// the parent hears <see cref="RestoreUnavailable"/> and tries again after a backoff.
/// </summary>
public sealed class SnapshotRestorer : ReceiveActor
{
    private readonly List<SnapshotRejected> _rejected = new();

    public SnapshotRestorer(string persistenceId, string runId, int parameterCount, IReadOnlyList<long> candidates)
    {
        IActorRef store = Akka.Persistence.Persistence.Instance.Apply(Context.System).SnapshotStoreFor(null);
        int next = 0;
        void LoadNext()
        {
            if (next == candidates.Count)
            {
                Context.Parent.Tell(new Restored(null, _rejected));
                Context.Stop(Self);
                return;
            }

            long seq = candidates[next++];
            store.Tell(new LoadSnapshot(persistenceId, new SnapshotSelectionCriteria(seq, DateTime.MaxValue, seq, DateTime.MinValue), seq));
        }

        Receive<LoadSnapshotResult>(loaded =>
        {
            long seq = candidates[next - 1];
            string? problem = loaded.Snapshot is { Snapshot: RunSnapshot snapshot } selected && selected.Metadata.SequenceNr == seq
                ? SnapshotChecksum.Problem(runId, snapshot, parameterCount)
                : "it is missing from the snapshot store";
            if (problem is null)
            {
                Context.Parent.Tell(new Restored((RunSnapshot)loaded.Snapshot!.Snapshot, _rejected));
                Context.Stop(Self);
                return;
            }

            _rejected.Add(new SnapshotRejected(seq, problem));
            LoadNext();
        });
        Receive<LoadSnapshotFailed>(f =>
        {
            Context.Parent.Tell(new RestoreUnavailable(candidates[next - 1], f.Cause));
            Context.Stop(Self);
        });
        LoadNext();
    }

    public static Props Props(string persistenceId, string runId, int parameterCount, IReadOnlyList<long> candidates) =>
        Akka.Actor.Props.Create(() => new SnapshotRestorer(persistenceId, runId, parameterCount, candidates));

    /// <summary>The snapshot to continue from (null: none is usable, start from the beginning), and the ones found unusable on the way.</summary>
    public sealed record Restored(RunSnapshot? Snapshot, IReadOnlyList<SnapshotRejected> Rejected);

    /// <summary>The store failed (e.g. the database is away), not a snapshot.</summary>
    public sealed record RestoreUnavailable(long SequenceNr, Exception Cause);
}

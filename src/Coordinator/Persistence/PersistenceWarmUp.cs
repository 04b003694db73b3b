using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using CnnCluster.Shared.Protocol;
using CnnCluster.Shared.Serialization;

namespace CnnCluster.Coordinator.Persistence;

/// <summary>
/// Saves one <see cref="RunSnapshot"/> under its own persistence id and deletes it again, once, when the
/// coordinator starts. A run's first snapshot and its first pruning otherwise pay the store's first-use costs in
/// the middle of training: the SQL layer builds and compiles each query the first time (LINQ expression trees),
/// and the serializer and the store's code are compiled on first call. Measured (`perf record` of a one-epoch
/// sharded run at batch 64): ~58 ms of the coordinator's CPU at the first save, ~45 ms at the first delete, each
/// a stall of the steps around it, against ~2 ms for a later save. Here they are paid while the workers load
/// their data. The snapshot is as large as a small model's (<see cref="ProtocolSerializer.WarmUpParameters"/>), so the serializer's
/// buffers have grown to a run's size too. A failure is a warning at start-up (the store does not work: the runs will
/// say so too), nothing more.
/// </summary>
public sealed class PersistenceWarmUp : ReceivePersistentActor
{
    /// <summary>Never a run's (those are "run-&lt;id&gt;") nor the registry's.</summary>
    public const string Id = "persistence-warm-up";

    private readonly ILoggingAdapter _log = Context.GetLogger();

    public PersistenceWarmUp()
    {
        Recover<RecoveryCompleted>(_ => SaveSnapshot(new RunSnapshot(Id, 0, new float[ProtocolSerializer.WarmUpParameters], new float[ProtocolSerializer.WarmUpParameters], 0, 0, 0, 0, string.Empty)));
        Command<SaveSnapshotSuccess>(s => DeleteSnapshots(new SnapshotSelectionCriteria(s.Metadata.SequenceNr)));
        Command<SaveSnapshotFailure>(f => Done("save", f.Cause));
        Command<DeleteSnapshotsSuccess>(_ => Done("delete", null));
        Command<DeleteSnapshotsFailure>(f => Done("delete", f.Cause));
    }

    public override string PersistenceId => Id;

    /// <summary>A store that cannot be read: the same warning, and the actor stops (as it would after any recovery failure).</summary>
    protected override void OnRecoveryFailure(Exception reason, object? message = null) =>
        _log.Warning("the run store's warm-up recovery failed: {0}", reason.Message);

    public static Props Props() => Akka.Actor.Props.Create(() => new PersistenceWarmUp());

    private void Done(string what, Exception? failure)
    {
        if (failure is not null)
        {
            _log.Warning("the run store's warm-up {0} failed: {1}", what, failure.Message);
        }

        Context.Stop(Self);
    }
}

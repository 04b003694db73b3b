using MessagePack;

namespace CnnCluster.Shared.Protocol;

// The journal of a run (persistence id run-<id>) and of the registry: small events, stored with our
// serializer like every protocol message (its manifest is the type's name in this assembly, so they live here).

/// <summary>An event of a run's journal, applied by the run's state (its one transition function).</summary>
public interface IRunEvent : IProtocolMessage
{
}

/// <summary>An event of the registry's journal, applied by the registry's state.</summary>
public interface IRegistryEvent : IProtocolMessage
{
}

/// <summary>First event of a run: what it is a function of, and where it started from if forked.</summary>
[MessagePackObject]
public sealed record RunStarted(
    [property: Key(0)] string RunId,
    [property: Key(1)] RunConfig Config,
    [property: Key(2)] string? ForkedFrom,
    [property: Key(3)] long ForkedFromSnapshot) : IRunEvent;

/// <summary>A committed step: its loss and the SHA-256 of the parameters after it.</summary>
[MessagePackObject]
public sealed record StepRecorded(
    [property: Key(0)] long Step,
    [property: Key(1)] int Epoch,
    [property: Key(2)] double Loss,
    [property: Key(3)] double LearningRate,
    [property: Key(4)] string ParamSha256,
    [property: Key(5)] long Images,
    [property: Key(6)] double TrainSeconds) : IRunEvent;

/// <summary>
/// Consecutive committed steps journaled as one event (one row), so the journal costs the coordinator one
/// write per group, not per step. Journals written before it hold single <see cref="StepRecorded"/> events.
/// </summary>
[MessagePackObject]
public sealed record StepsRecorded([property: Key(0)] StepRecorded[] Steps) : IRunEvent;

/// <summary>
/// An epoch's metrics; for a model with map combinations also the fraction of their α below 0.05
/// (null otherwise, and in journals written before it).
/// </summary>
[MessagePackObject]
public sealed record EpochRecorded(
    [property: Key(0)] int Epoch,
    [property: Key(1)] long Step,
    [property: Key(2)] double TrainLoss,
    [property: Key(3)] double TestLoss,
    [property: Key(4)] double TestAccuracy,
    [property: Key(5)] double TrainSeconds,
    [property: Key(6)] double ImagesPerSecond,
    [property: Key(7)] double? SparseAlphaFraction = null) : IRunEvent;

/// <summary>A snapshot was stored (its sequence number, step, size and checksum).</summary>
[MessagePackObject]
public sealed record SnapshotRecorded(
    [property: Key(0)] long SequenceNr,
    [property: Key(1)] long Step,
    [property: Key(2)] long Bytes,
    [property: Key(3)] string Checksum,
    [property: Key(4)] DateTime Timestamp) : IRunEvent;

/// <summary>Snapshots up to this sequence number were deleted (only the newest N are kept).</summary>
[MessagePackObject]
public sealed record SnapshotsPruned([property: Key(0)] long UpToSequenceNr) : IRunEvent;

/// <summary>A snapshot failed its checksum at recovery: the run went back to the one before it.</summary>
[MessagePackObject]
public sealed record SnapshotRejected([property: Key(0)] long SequenceNr, [property: Key(1)] string Reason) : IRunEvent;

/// <summary>
/// A worker failed twice and was quarantined at this step: a fact of the run, not of one coordinator's
/// incarnation, so a restart or a rewind to a snapshot does not forget it (the run's summary lists it).
/// </summary>
[MessagePackObject]
public sealed record WorkerQuarantined([property: Key(0)] long Step, [property: Key(1)] string Worker, [property: Key(2)] string Reason) : IRunEvent;

/// <summary>The run ended: completed, stopped or failed.</summary>
[MessagePackObject]
public sealed record RunEnded(
    [property: Key(0)] string Status,
    [property: Key(1)] long Step,
    [property: Key(2)] string? ParamSha256,
    [property: Key(3)] string? Reason) : IRunEvent
{
    public RunEnded(RunOutcome outcome, long step, string? paramSha256, string? reason)
        : this(outcome.ToWire(), step, paramSha256, reason)
    {
    }

    /// <summary>The <see cref="Status"/> word read as an outcome.</summary>
    [IgnoreMember]
    public RunOutcome Outcome => RunOutcomes.ParseOutcome(Status);
}

/// <summary>
/// A run's state at a step (DESIGN §5): parameters, optimizer state, data position (the step gives the
/// epoch and batch), the epoch's running sums, and a checksum over all of it.
/// </summary>
[MessagePackObject]
public sealed record RunSnapshot(
    [property: Key(0)] string RunId,
    [property: Key(1)] long Step,
    [property: Key(2)] float[] Parameters,
    [property: Key(3)] float[] Velocity,
    [property: Key(4)] long Images,
    [property: Key(5)] double TrainSeconds,
    [property: Key(6)] double EpochLossSum,
    [property: Key(7)] long EpochImages,
    [property: Key(8)] string Checksum) : IProtocolMessage;

/// <summary>Registry journal: a run exists, with its configuration (and its fork source).</summary>
[MessagePackObject]
public sealed record RunRegistered(
    [property: Key(0)] string RunId,
    [property: Key(1)] RunConfig Config,
    [property: Key(2)] string? ForkedFrom,
    [property: Key(3)] long ForkedFromSnapshot,
    [property: Key(4)] DateTime? Submitted = null) : IRegistryEvent;

/// <summary>Registry journal: a run reached an end and needs no restart (with its last step and accuracy, for `train list`).</summary>
[MessagePackObject]
public sealed record RunClosed(
    [property: Key(0)] string RunId,
    [property: Key(1)] string Status,
    [property: Key(2)] long? Step = null,
    [property: Key(3)] double? TestAccuracy = null) : IRegistryEvent
{
    [IgnoreMember]
    public RunOutcome Outcome => RunOutcomes.ParseOutcome(Status);
}

/// <summary>Client → registry: continue a stopped or failed run from its last snapshot (`pbm train resume`).</summary>
[MessagePackObject]
public sealed record ResumeRun([property: Key(0)] string RunId) : IProtocolMessage;

/// <summary>
/// Registry journal and run journal: a stopped or failed run was resumed; its end no longer holds (the
/// registry restarts it after a restart of its own, the run recovers as unfinished and continues).
/// </summary>
[MessagePackObject]
public sealed record RunResumed([property: Key(0)] string RunId, [property: Key(1)] string PreviousStatus) : IRunEvent, IRegistryEvent;

/// <summary>Client → registry: a new run from a stored snapshot of another run, with its own configuration.</summary>
[MessagePackObject]
public sealed record ForkRun(
    [property: Key(0)] string SourceRunId,
    [property: Key(1)] long SnapshotSequenceNr,
    [property: Key(2)] string? RunId,
    [property: Key(3)] RunConfig Config) : IProtocolMessage;

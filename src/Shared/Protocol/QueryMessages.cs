using MessagePack;

namespace CnnCluster.Shared.Protocol;

// Queries and controls behind pbm's train, snapshot and worker palettes.

/// <summary>Client → registry: every run it knows.</summary>
[MessagePackObject]
public sealed record ListRuns : IProtocolMessage;

/// <summary>One line of <see cref="RunList"/>.</summary>
[MessagePackObject]
public sealed record RunListEntry(
    [property: Key(0)] string RunId,
    [property: Key(1)] string Model,
    [property: Key(2)] string Status,
    [property: Key(3)] string? ForkedFrom,
    [property: Key(4)] long? Step = null,
    [property: Key(5)] double? TestAccuracy = null,
    [property: Key(6)] DateTime? Submitted = null) : IProtocolMessage;

[MessagePackObject]
public sealed record RunList([property: Key(0)] RunListEntry[] Runs) : IProtocolMessage;

/// <summary>Client → run: how are you?</summary>
[MessagePackObject]
public sealed record RunStatusRequest([property: Key(0)] string RunId) : IProtocolMessage;

/// <summary>Run → client: state (running / waiting / completed / stopped / failed), position, last figures, hash.</summary>
[MessagePackObject]
public sealed record RunStatus(
    [property: Key(0)] string RunId,
    [property: Key(1)] string Model,
    [property: Key(2)] string State,
    [property: Key(3)] long Step,
    [property: Key(4)] long TotalSteps,
    [property: Key(5)] double? Loss,
    [property: Key(6)] double? TestAccuracy,
    [property: Key(7)] string ParamSha256,
    [property: Key(8)] int Workers,
    [property: Key(9)] string? Reason) : IProtocolMessage;

/// <summary>Client → run: stop (it stays stopped until a <see cref="ResumeRun"/>; a serve node does not resume it by itself).</summary>
[MessagePackObject]
public sealed record StopRun([property: Key(0)] string RunId) : IProtocolMessage;

/// <summary>Client → run: its stored snapshots.</summary>
[MessagePackObject]
public sealed record ListSnapshots([property: Key(0)] string RunId) : IProtocolMessage;

[MessagePackObject]
public sealed record SnapshotList([property: Key(0)] string RunId, [property: Key(1)] SnapshotRecorded[] Snapshots) : IProtocolMessage;

/// <summary>Client → registry: the workers and their counters.</summary>
[MessagePackObject]
public sealed record ListWorkers : IProtocolMessage;

/// <summary>One worker: <see cref="Refused"/> is empty for a worker that gets work, else why it does not.</summary>
[MessagePackObject]
public sealed record WorkerListEntry(
    [property: Key(0)] string Address,
    [property: Key(1)] int Threads,
    [property: Key(2)] long ShardsDone,
    [property: Key(3)] double LastStepMilliseconds,
    [property: Key(4)] string Instructions = "",
    [property: Key(5)] string Refused = "") : IProtocolMessage;

[MessagePackObject]
public sealed record WorkerList([property: Key(0)] WorkerListEntry[] Workers) : IProtocolMessage;

/// <summary>Client → run: its whole record, as its journal holds it.</summary>
[MessagePackObject]
public sealed record RunHistoryRequest([property: Key(0)] string RunId) : IProtocolMessage;

/// <summary>
/// Run → client: the run's record in the store, whoever started it (its configuration, every committed
/// step, every epoch's figures, its snapshots and its end), from which `train metrics` writes the csv files
/// and the plot and `train logs` tells its history. Sent in chunks when remote (it grows with the steps).
/// </summary>
[MessagePackObject]
public sealed record RunHistory(
    [property: Key(0)] string RunId,
    [property: Key(1)] RunConfig Config,
    [property: Key(2)] string State,
    [property: Key(3)] long TotalSteps,
    [property: Key(4)] int StepsPerEpoch,
    [property: Key(5)] StepRecorded[] Steps,
    [property: Key(6)] EpochRecorded[] Epochs,
    [property: Key(7)] SnapshotRecorded[] Snapshots,
    [property: Key(8)] RunEnded? Ended,
    [property: Key(9)] string? ForkedFrom) : IProtocolMessage;

using MessagePack;

namespace CnnCluster.Shared.Protocol;

/// <summary>Client → registry: start a run (RunId null: the registry names it).</summary>
[MessagePackObject]
public sealed record SubmitRun([property: Key(0)] string? RunId, [property: Key(1)] RunConfig Config) : IProtocolMessage;

/// <summary>Registry → client: the run exists and is starting.</summary>
[MessagePackObject]
public sealed record RunAccepted([property: Key(0)] string RunId) : IProtocolMessage;

/// <summary>Registry → client: the submission was refused.</summary>
[MessagePackObject]
public sealed record RunRejected([property: Key(0)] string? RunId, [property: Key(1)] string Reason) : IProtocolMessage;

/// <summary>Client → run: send me its events (every step, epoch, and the end) from now on.</summary>
[MessagePackObject]
public sealed record SubscribeRun([property: Key(0)] string RunId) : IProtocolMessage;

/// <summary>Run → subscribers: one committed step.</summary>
[MessagePackObject]
public sealed record StepCommitted(
    [property: Key(0)] string RunId,
    [property: Key(1)] long Step,
    [property: Key(2)] long TotalSteps,
    [property: Key(3)] int Epoch,
    [property: Key(4)] double Loss,
    [property: Key(5)] double LearningRate,
    [property: Key(6)] long Images,
    [property: Key(7)] double TrainSeconds,
    [property: Key(8)] int Workers) : IProtocolMessage;

/// <summary>Run → subscribers: an epoch's metrics (the α fraction as in <see cref="EpochRecorded"/>).</summary>
[MessagePackObject]
public sealed record EpochCompleted(
    [property: Key(0)] string RunId,
    [property: Key(1)] int Epoch,
    [property: Key(2)] long Step,
    [property: Key(3)] double TrainLoss,
    [property: Key(4)] double TestLoss,
    [property: Key(5)] double TestAccuracy,
    [property: Key(6)] double TrainSeconds,
    [property: Key(7)] double ImagesPerSecond,
    [property: Key(8)] double? SparseAlphaFraction = null) : IProtocolMessage;

/// <summary>Run → subscribers: the run is waiting (e.g. for workers) and why.</summary>
[MessagePackObject]
public sealed record RunWaiting([property: Key(0)] string RunId, [property: Key(1)] long Step, [property: Key(2)] string Reason) : IProtocolMessage;

/// <summary>Run → subscribers: the run ended, with its final parameter hash.</summary>
[MessagePackObject]
public sealed record RunFinished(
    [property: Key(0)] string RunId,
    [property: Key(1)] long Steps,
    [property: Key(2)] string ParamSha256,
    [property: Key(3)] double TrainSeconds,
    [property: Key(4)] double ImagesPerSecond,
    [property: Key(5)] RunTraffic Traffic) : IProtocolMessage;

/// <summary>Why a run failed, for a client that acts on it (a diverged run's exit code).</summary>
public enum RunFailure
{
    /// <summary>Anything else: the reason says what.</summary>
    Error,

    /// <summary>The loss became NaN or infinite (lower the learning rate).</summary>
    Diverged,

    /// <summary>Replicas, or a recomputed step and its journal, disagree bit for bit: a machine computes wrongly.</summary>
    Disagreement,
}

/// <summary>
/// Run → subscribers: the run ended without completing: failed (<see cref="Failure"/> says how), or
/// stopped by a user (<see cref="Outcome"/>).
/// </summary>
[MessagePackObject]
public sealed record RunFailed(
    [property: Key(0)] string RunId,
    [property: Key(1)] long Step,
    [property: Key(2)] string Reason,
    [property: Key(3)] RunOutcome Outcome = RunOutcome.Failed,
    [property: Key(4)] RunFailure Failure = RunFailure.Error) : IProtocolMessage;

/// <summary>What crossed the wire for a run: assignments out, results in, retries and drops.</summary>
[MessagePackObject]
public sealed record RunTraffic(
    [property: Key(0)] long AssignmentsSent,
    [property: Key(1)] long ParameterBytesSent,
    [property: Key(2)] long ResultsReceived,
    [property: Key(3)] long GradientBytesReceived,
    [property: Key(4)] long Reassigned,
    [property: Key(5)] long Speculative,
    [property: Key(6)] long StaleDropped,
    [property: Key(7)] double[]? PhaseMicroseconds = null,
    [property: Key(8)] NodeTraffic[]? Nodes = null,
    [property: Key(9)] ResultChecks? Checks = null) : IProtocolMessage;

/// <summary>
/// What checking the workers' results found in a run: results refused (wrong length, not finite, or
/// from a worker that was not given the node), nodes computed twice and compared (--verify), the
/// disagreements among them, and the workers quarantined (two failures).
/// </summary>
[MessagePackObject]
public sealed record ResultChecks(
    [property: Key(0)] long Refused,
    [property: Key(1)] long Verified,
    [property: Key(2)] long Disagreements,
    [property: Key(3)] string[] Quarantined) : IProtocolMessage;

/// <summary>
/// One node's data-plane bytes in a sharded run, as the node counted them: those of the steps' exchange
/// over <see cref="Steps"/> steps, and those of whole-state transfers (replicas sent at start and joins,
/// states captured for snapshots and test metrics) apart; and its process's CPU time per step (every thread: compute,
/// exchange, actors, I/O, spinning), over the steps it reported (0 when unknown).
/// </summary>
[MessagePackObject]
public sealed record NodeTraffic(
    [property: Key(0)] string Node,
    [property: Key(1)] long Steps,
    [property: Key(2)] long StepBytesSent,
    [property: Key(3)] long StepBytesReceived,
    [property: Key(4)] long StateBytesSent,
    [property: Key(5)] long StateBytesReceived,
    [property: Key(6)] double CpuMicrosecondsPerStep = 0) : IProtocolMessage;

/// <summary>Client → registry: what is run <see cref="RunId"/>? Answered with its <see cref="RunRegistered"/> or a <see cref="RunRejected"/>.</summary>
[MessagePackObject]
public sealed record DescribeRun([property: Key(0)] string RunId) : IProtocolMessage;

/// <summary>Client → run: send me the model as it is now.</summary>
[MessagePackObject]
public sealed record ExportRun([property: Key(0)] string RunId) : IProtocolMessage;

/// <summary>Run → client: the model spec and its parameters at a step.</summary>
[MessagePackObject]
public sealed record ModelExport(
    [property: Key(0)] string RunId,
    [property: Key(1)] string ModelJson,
    [property: Key(2)] long Step,
    [property: Key(3)] float[] Parameters,
    [property: Key(4)] string ParamSha256) : IProtocolMessage;

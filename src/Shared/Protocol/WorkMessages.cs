using MessagePack;

namespace CnnCluster.Shared.Protocol;

/// <summary>An aligned node of the step's reduction tree: micro-shards [Start, Start + 2^Level) ∩ [0, M).</summary>
[MessagePackObject]
public readonly record struct TreeNode([property: Key(0)] int Start, [property: Key(1)] int Level) : IProtocolMessage;

/// <summary>
/// Coordinator → worker: compute these tree nodes of step <see cref="Step"/> with these parameters.
/// Self-contained (model, data subset and batch travel along), so a worker keeps no run state and a
/// worker that joins or restarts needs nothing else. Seed, epoch and augmentation are the step's
/// <see cref="Engine.Layers.PassContext"/> (what augmentation and dropout draw from); older senders leave them 0.
/// </summary>
[MessagePackObject]
public sealed record WorkAssignment(
    [property: Key(0)] string RunId,
    [property: Key(1)] long Incarnation,
    [property: Key(2)] long Step,
    [property: Key(3)] string ModelJson,
    [property: Key(4)] int? DataLimit,
    [property: Key(5)] int ShardSize,
    [property: Key(6)] int[] Batch,
    [property: Key(7)] TreeNode[] Nodes,
    [property: Key(8)] float[] Parameters,
    [property: Key(9)] string DataFingerprint,
    [property: Key(10)] ulong Seed = 0,
    [property: Key(11)] int Epoch = 0,
    [property: Key(12)] bool Augment = false) : IProtocolMessage
{
    /// <summary>The pass this assignment's nodes are computed in.</summary>
    [IgnoreMember]
    public Engine.Layers.PassContext Pass => Engine.Layers.PassContext.ForTraining(Seed, Step, Epoch, Augment);
}

/// <summary>Worker → coordinator: one node's summed gradient and summed loss.</summary>
[MessagePackObject]
public sealed record NodeResult(
    [property: Key(0)] string RunId,
    [property: Key(1)] long Incarnation,
    [property: Key(2)] long Step,
    [property: Key(3)] TreeNode Node,
    [property: Key(4)] double LossSum,
    [property: Key(5)] float[] Gradient,
    [property: Key(6)] double ComputeMilliseconds) : IStepMessage;

/// <summary>Why a worker could not compute what it was sent.</summary>
public enum WorkFailure
{
    /// <summary>It cannot compute this run at all (no data, other data, a model it refuses): it is left out.</summary>
    CannotCompute,

    /// <summary>Its replica of a sharded run is not at the plan's step (or there is none): it needs the run's state again.</summary>
    OutOfStep,
}

/// <summary>Worker → coordinator: the assignment could not be computed (e.g. no data on that node), and why in words.</summary>
[MessagePackObject]
public sealed record WorkFailed(
    [property: Key(0)] string RunId,
    [property: Key(1)] long Incarnation,
    [property: Key(2)] long Step,
    [property: Key(3)] string Reason,
    [property: Key(4)] WorkFailure Kind = WorkFailure.CannotCompute) : IStepMessage;

/// <summary>Coordinator → worker: who are you?</summary>
[MessagePackObject]
public sealed record WorkerInfoRequest : IProtocolMessage;

/// <summary>
/// Worker → coordinator: its capacity, counters, the engine's numeric-contract version (0 from a worker
/// that predates it), the instruction set it computes with, its data-plane endpoint ("host:port";
/// empty: assignments reach it through Akka only), and the version of this protocol it speaks (0 from a
/// worker that predates it): a coordinator refuses, in words, a worker that speaks another.
/// </summary>
[MessagePackObject]
public sealed record WorkerInfo(
    [property: Key(0)] int Threads,
    [property: Key(1)] long ShardsDone,
    [property: Key(2)] double LastStepMilliseconds,
    [property: Key(3)] int NumericContract = 0,
    [property: Key(4)] string Instructions = "",
    [property: Key(5)] string DataEndpoint = "",
    [property: Key(6)] int Protocol = 0) : IProtocolMessage
{
    /// <summary>
    /// The version of the cluster protocol this build speaks; 1: typed failures and outcomes
    /// (<see cref="WorkFailure"/>, <see cref="RunFailure"/>), the step of a sharded message as one <see cref="StepRef"/>.
    /// </summary>
    public const int CurrentProtocol = 1;
}

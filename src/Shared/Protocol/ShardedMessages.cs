using MessagePack;

namespace CnnCluster.Shared.Protocol;

// The sharded all-reduce (DESIGN §5): the coordinator keeps the step clock and the membership, the workers
// keep replicas and exchange slices among themselves. Only ReplicaInit and ReplicaState carry the
// parameters; everything the coordinator sends or receives per step is independent of their number.

/// <summary>How a run's gradients are summed.</summary>
public enum Reduction
{
    /// <summary>Every block's gradient to the coordinator, which completes the tree and sends the parameters back.</summary>
    Star = 0,

    /// <summary>Reduce-scatter and all-gather by parameter slices among the workers; the coordinator sees no tensor.</summary>
    Sharded = 1,
}

/// <summary>
/// Which step a message of a sharded run is about: the run, its incarnation on the coordinator (a
/// restarted coordinator's messages are told apart), the generation of its membership (grows with every
/// change of members and every step run again) and the step. Within one run and incarnation, steps are
/// ordered by generation, then step: plans, parts and sums are matched by it.
/// </summary>
[MessagePackObject]
public readonly record struct StepRef(
    [property: Key(0)] string RunId,
    [property: Key(1)] long Incarnation,
    [property: Key(2)] int Generation,
    [property: Key(3)] long Step) : IProtocolMessage, IComparable<StepRef>
{
    public int CompareTo(StepRef other) => Generation != other.Generation ? Generation.CompareTo(other.Generation) : Step.CompareTo(other.Step);

    public static bool operator <(StepRef a, StepRef b) => a.CompareTo(b) < 0;

    public static bool operator >(StepRef a, StepRef b) => a.CompareTo(b) > 0;

    /// <summary>True when the message is of run <paramref name="runId"/>'s incarnation <paramref name="incarnation"/>.</summary>
    public bool Of(string runId, long incarnation) => RunId == runId && Incarnation == incarnation;

    public override string ToString() => $"{RunId}#{Incarnation} g{Generation} step {Step}";
}

/// <summary>
/// Coordinator → worker: become (or become again) a replica of the run at step <see cref="Step"/>, with
/// this configuration and state. Sent before the first plan a worker gets, and to a worker that joins
/// or fell out of step.
/// </summary>
[MessagePackObject]
public sealed record ReplicaInit(
    [property: Key(0)] string RunId,
    [property: Key(1)] long Incarnation,
    [property: Key(2)] RunConfig Config,
    [property: Key(3)] string DataFingerprint,
    [property: Key(4)] long Step,
    [property: Key(5)] float[] Parameters,
    [property: Key(6)] float[] Velocity) : IProtocolMessage;

/// <summary>
/// Worker → coordinator: the replica a <see cref="ReplicaInit"/> asked for is made (its model, gradient machinery
/// and state at <see cref="Step"/>). A run's first members begin its first step once each has said so: making a
/// replica (building the model, its threads and buffers) is set-up, as building the model is for the engine alone.
/// </summary>
[MessagePackObject]
public sealed record ReplicaReady(
    [property: Key(0)] string RunId,
    [property: Key(1)] long Incarnation,
    [property: Key(2)] long Step) : IStepMessage;

/// <summary>
/// Coordinator → worker: step <see cref="Step"/> (1-based: the step that moves the replicas from
/// Step − 1 to Step) of generation <see cref="Generation"/>. <see cref="Members"/> are the data-plane
/// endpoints of the generation's workers; member k owns parameter slice k of
/// <c>ParameterSlice.Partition(P, Members.Length)</c>. <see cref="Nodes"/> is every tree node of the step,
/// <see cref="Mine"/> those this worker computes (a later plan of the same step and generation adds
/// nodes: a straggler's, computed once more, and tells every member). <see cref="Computers"/>, aligned with
/// <see cref="Nodes"/>, names the members given each node: an owner takes a node's part only from them. With <see cref="Capture"/> the worker sends its state
/// once the step is committed; with <see cref="Digest"/> (every member, on such a step) it reports the
/// SHA-256 of its state in <see cref="StepDone.StateSha256"/>, against which the state sent is checked.
/// </summary>
[MessagePackObject]
public sealed record StepPlan(
    [property: Key(0)] StepRef Ref,
    [property: Key(1)] string[] Members,
    [property: Key(2)] int Me,
    [property: Key(3)] TreeNode[] Nodes,
    [property: Key(4)] TreeNode[] Mine,
    [property: Key(5)] bool Capture,
    [property: Key(6)] bool Digest = false,
    [property: Key(7)] int[][]? Computers = null,
    [property: Key(8)] bool Checked = false) : IProtocolMessage
{
    /// <summary>
    /// How many steps past the one it counts the coordinator plans (each plan of the same members and the state after
    /// the step before it): a replica goes on without waiting for the coordinator for that many steps, and keeps that
    /// many step starts more, for a step run again. Two: a coordinator held up for a step (a busy machine's scheduler,
    /// a collection) no longer holds the replicas up.
    /// </summary>
    public const int PlansAhead = 2;

    /// <summary>The member that sends the SHA-256 of the parameters after <paramref name="step"/> (each in turn).</summary>
    public static int HasherOf(long step, int members) => (int)(step % members);

    /// <summary>The member that checks slice <paramref name="slice"/>'s sum on a <see cref="Checked"/> step: the next one.</summary>
    public static int CheckerOf(int slice, int members) => (slice + 1) % members;
}

/// <summary>
/// Worker → coordinator: a node of the step is computed and its slices are on their way to their owners. On a
/// checked step <see cref="Digests"/> holds the SHA-256 of each slice's part (<c>ParameterHash.OfSlice</c>), one
/// after another in slice order: what the coordinator compares between two computers of a verified node, and
/// what the owners and checkers take parts by.
/// </summary>
[MessagePackObject]
public sealed record NodeDone(
    [property: Key(0)] StepRef Ref,
    [property: Key(1)] TreeNode Node,
    [property: Key(2)] double ComputeMilliseconds,
    [property: Key(3)] byte[]? Digests = null) : IStepMessage;

/// <summary>
/// Worker → coordinator: the worker's replica committed the step. <see cref="Checksum"/> is the XXH3 of its
/// whole parameter buffer after it (every member), <see cref="ParamSha256"/> the SHA-256 the journal keeps
/// (from the step's hasher, one member a step in turn; empty from the others), <see cref="LossSum"/> the
/// tree's sum of the batch's losses.
/// <see cref="BytesSent"/> and <see cref="BytesReceived"/> are the data-plane bytes of this step on this
/// worker (frames of the step's exchange with peers and the coordinator, state transfers apart);
/// <see cref="StateBytesSent"/> and <see cref="StateBytesReceived"/> its whole-state transfers so far;
/// <see cref="CpuMicroseconds"/> its process's CPU time so far (user and system: a run's CPU per step, every thread of it).
/// </summary>
[MessagePackObject]
public sealed record StepDone(
    [property: Key(0)] StepRef Ref,
    [property: Key(1)] string ParamSha256,
    [property: Key(2)] double LossSum,
    [property: Key(3)] long BytesSent,
    [property: Key(4)] long BytesReceived,
    [property: Key(5)] long StateBytesSent = 0,
    [property: Key(6)] long StateBytesReceived = 0,
    [property: Key(7)] ulong Checksum = 0,
    [property: Key(8)] string StateSha256 = "",
    [property: Key(9)] long CpuMicroseconds = 0) : IStepMessage;

/// <summary>Worker → coordinator: its replica's parameters and optimizer state after step <see cref="Step"/> (snapshots, test metrics, joins).</summary>
[MessagePackObject]
public sealed record ReplicaState(
    [property: Key(0)] string RunId,
    [property: Key(1)] long Incarnation,
    [property: Key(2)] long Step,
    [property: Key(3)] float[] Parameters,
    [property: Key(4)] float[] Velocity) : IStepMessage;

/// <summary>A message of one slice of a step among members (a part or a sum): its step and its values.</summary>
public interface ISliceMessage : IProtocolMessage
{
    StepRef Ref { get; }

    float[] Values { get; }
}

/// <summary>Worker → slice owner: slice <see cref="Slice"/> of one tree node's summed gradient, and the node's summed loss.</summary>
[MessagePackObject]
public sealed record SlicePart(
    [property: Key(0)] StepRef Ref,
    [property: Key(1)] TreeNode Node,
    [property: Key(2)] int Slice,
    [property: Key(3)] double LossSum,
    [property: Key(4)] float[] Values) : ISliceMessage;

/// <summary>Slice owner → every member: slice <see cref="Slice"/> of the batch's summed gradient (the whole tree), and the batch's summed loss.</summary>
[MessagePackObject]
public sealed record SliceSum(
    [property: Key(0)] StepRef Ref,
    [property: Key(1)] int Slice,
    [property: Key(2)] double LossSum,
    [property: Key(3)] float[] Values) : ISliceMessage;

/// <summary>
/// Slice owner (or checker) → coordinator: a part of node <see cref="Node"/> of this step was refused (the
/// slice's length, a loss or value not finite, on a checked step a digest not the agreed one); <see cref="From"/>
/// is the member that sent it (empty: the node's only computer). The coordinator strikes that worker and runs the step again.
/// </summary>
[MessagePackObject]
public sealed record PartRefused(
    [property: Key(0)] StepRef Ref,
    [property: Key(1)] TreeNode Node,
    [property: Key(2)] string Reason,
    [property: Key(3)] string From = "") : IStepMessage;

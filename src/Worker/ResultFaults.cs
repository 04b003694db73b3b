using CnnCluster.Shared.Protocol;

namespace CnnCluster.Worker;

/// <summary>
/// For test builds of the worker only (tests/FaultyWorker, which sees the worker's internals): a function
/// every computed node passes through in <see cref="WorkerEngine.ComputeNode"/>, the one place, to break it
/// as a faulty machine would; one every replica state a sharded run asks for passes through as it is
/// sent; and one every sum of a replica's own slice passes through (a member that lies about its slice). Null, and never set, in the real worker.
/// </summary>
internal static class ResultFaults
{
    public static Func<NodeResult, NodeResult>? Apply { get; set; }

    public static Func<ReplicaState, ReplicaState>? State { get; set; }

    /// <summary>Every sum a replica makes of its own slice passes through it before it is reported, sent and applied.</summary>
    public static Func<SliceSum, SliceSum>? Sum { get; set; }

    /// <summary>
    /// Hears every plan a replica gets, with the model's parameter count and a way to send a slice as this member
    /// (over its own proven peer links): a hostile member's way in.
    /// </summary>
    public static Action<StepPlan, int, Action<string, ISliceMessage>>? Plan { get; set; }
}

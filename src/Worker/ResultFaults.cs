using CnnCluster.Shared.Protocol;

namespace CnnCluster.Worker;

/// <summary>
/// For test builds of the worker only (tests/FaultyWorker, which sees the worker's internals): a function
/// every computed node passes through in <see cref="WorkerEngine.ComputeNode"/>, the one place, to break it
/// as a faulty machine would; and one every replica state a sharded run asks for passes through as it is
/// sent. Null, and never set, in the real worker.
/// </summary>
internal static class ResultFaults
{
    public static Func<NodeResult, NodeResult>? Apply { get; set; }

    public static Func<ReplicaState, ReplicaState>? State { get; set; }
}

using CnnCluster.Shared.Protocol;

namespace CnnCluster.Worker;

/// <summary>
/// For test builds of the worker only (tests/FaultyWorker): a function every result passes through
/// before it is sent, to break it as a faulty machine would. Null, and never set, in the real worker.
/// </summary>
internal static class ResultFaults
{
    public static Func<NodeResult, NodeResult>? Apply { get; set; }
}

using Akka.Actor;
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

    /// <summary>Hears every plan a replica gets, before the replica does, with this member's ways out: a hostile member's way in.</summary>
    public static Action<StepPlan, MemberWays>? Plan { get; set; }

    /// <summary>Hears the worker node's actor system once its actors are made.</summary>
    public static Action<ActorSystem>? Started { get; set; }

    /// <summary>
    /// What a member can send as itself: <paramref name="SendAsMe"/> a slice (or anything) to a peer over its own proven
    /// link, <paramref name="ToCoordinator"/> a message on the plan's connection; <paramref name="Parameters"/>, the model's size.
    /// </summary>
    public sealed record MemberWays(int Parameters, Action<string, IProtocolMessage> SendAsMe, Action<IProtocolMessage> ToCoordinator);
}

using Akka.Actor;
using CnnCluster.Shared.Protocol;
using CnnCluster.Shared.Transport;

namespace CnnCluster.Shared.DataPlane;

/// <summary>Where a worker sends the answers to one assignment: back over the data plane, or through Akka.</summary>
public interface IWorkReplies
{
    /// <summary>True when the assignment's parameters were decoded into a pooled buffer that the worker returns when done.</summary>
    bool OwnsParameters { get; }

    /// <summary>Sends one node's result; true when it was encoded here and now, so its gradient buffer may be reused.</summary>
    bool Send(NodeResult result);

    void Fail(WorkFailed failure);
}

/// <summary>Answers through Akka to the assigning actor (in-process, or remote as <see cref="Chunk"/>s).</summary>
public sealed class ActorReplies(ActorSystem system, IActorRef replyTo, IActorRef self) : IWorkReplies
{
    public bool OwnsParameters => !replyTo.Path.Address.HasLocalScope;

    public bool Send(NodeResult result) => Chunking.Tell(system, replyTo, result, self) > 0;

    public void Fail(WorkFailed failure) => replyTo.Tell(failure, self);
}

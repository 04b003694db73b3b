using Akka.Actor;
using CnnCluster.Shared.Protocol;
using CnnCluster.Shared.Transport;

namespace CnnCluster.Shared.DataPlane;

/// <summary>Where a worker sends the answers to one assignment: back over the data plane, or through Akka.</summary>
public interface IWorkReplies
{
    /// <summary>
    /// True when messages cross an encoding both ways: the assignment's parameters were decoded into a
    /// pooled buffer that the worker returns when done, and a result is encoded as it is sent, so its
    /// gradient buffer can serve the next node. False in-process, where both travel by reference.
    /// </summary>
    bool Serializes { get; }

    /// <summary>Sends one node's result.</summary>
    void Send(NodeResult result);

    void Fail(WorkFailed failure);
}

/// <summary>Answers through Akka to the assigning actor (in-process, or remote as <see cref="Chunk"/>s).</summary>
public sealed class ActorReplies(ActorSystem system, IActorRef replyTo, IActorRef self) : IWorkReplies
{
    public bool Serializes => !replyTo.Path.Address.HasLocalScope;

    public void Send(NodeResult result) => Chunking.Tell(system, replyTo, result, self);

    public void Fail(WorkFailed failure) => replyTo.Tell(failure, self);
}

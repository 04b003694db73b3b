using Akka.Actor;
using CnnCluster.Shared.Protocol;
using CnnCluster.Shared.Transport;

namespace CnnCluster.Shared.DataPlane;

/// <summary>Where a worker sends its answers to a coordinator: back over the data plane, or through Akka.</summary>
public interface IWorkReplies
{
    /// <summary>
    /// True when messages cross an encoding both ways: the assignment's parameters were decoded into a
    /// pooled buffer that the worker returns when done, and a result is encoded as it is sent, so its
    /// gradient buffer can serve the next node. False in-process, where both travel by reference.
    /// </summary>
    bool Serializes { get; }

    /// <summary>Sends an answer (a node's result, a failure, a sharded step's news).</summary>
    void Send(IProtocolMessage message);

    /// <summary>The data-plane endpoint of the peer worker that dialed this connection, once proven (<see cref="InboundPeer"/>); else null.</summary>
    string? Peer => null;
}

/// <summary>Answers through Akka to the assigning actor (in-process, or remote as <see cref="Chunk"/>s).</summary>
public sealed class ActorReplies(ActorSystem system, IActorRef replyTo, IActorRef self) : IWorkReplies
{
    public bool Serializes => !replyTo.Path.Address.HasLocalScope;

    public void Send(IProtocolMessage message) => Chunking.Tell(system, replyTo, message, self);
}

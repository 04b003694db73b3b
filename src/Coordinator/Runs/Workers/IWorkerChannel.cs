using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Runs.Workers;

/// <summary>How a run reaches one worker right now.</summary>
public enum ChannelKind
{
    /// <summary>An actor of this process: messages go by reference, nothing is encoded.</summary>
    InProcess,

    /// <summary>Its data plane (a TCP link of our own, opened on first use).</summary>
    DataPlane,

    /// <summary>Akka remoting, in chunks: a worker without a data plane, or whose link failed.</summary>
    Akka,
}

/// <summary>
/// The way to one worker, whatever the transport (<see cref="ChannelKind"/>): the step executions send
/// through it and never decide the transport themselves.
/// </summary>
public interface IWorkerChannel : IDisposable
{
    ChannelKind Kind { get; }

    /// <summary>Sends by the best transport the worker has (in-process, data plane, Akka).</summary>
    void Send(IProtocolMessage message);

    /// <summary>Sends over the data plane only (replicas are reached there); false when there is none.</summary>
    bool SendOnDataPlane(IProtocolMessage message);

    /// <summary>The data plane failed: from now on <see cref="Send"/> goes through Akka.</summary>
    void FallBackToAkka();

    /// <summary>Bytes this channel put on the wire and took off it (data plane and Akka).</summary>
    long BytesSent { get; }

    long BytesReceived { get; }

    /// <summary>Time spent encoding for this worker, on this thread (Akka chunks) or the link's.</summary>
    TimeSpan Encoding { get; }

    /// <summary>A result came back over Akka remoting: its gradient's bytes count here.</summary>
    void ReceivedOverAkka(long bytes);
}

using System.Diagnostics;
using Akka.Actor;
using CnnCluster.Shared.DataPlane;
using CnnCluster.Shared.Protocol;
using CnnCluster.Shared.Security;
using CnnCluster.Shared.Transport;

namespace CnnCluster.Coordinator.Runs.Workers;

/// <summary>
/// A worker actor reached from a run: by reference when it lives in this process, else over its data plane
/// (<see cref="DataLink"/>, opened on first use), else through Akka in chunks. Messages the link brings
/// back reach the run as if the worker had told them; a link that fails says so with <see cref="LinkClosed"/>.
/// </summary>
public sealed class WorkerChannel(ActorSystem system, IActorRef run, IActorRef worker, string endpoint, DataTraffic traffic) : IWorkerChannel
{
    private DataLink? _link;
    private bool _akkaOnly = endpoint.Length == 0;
    private long _akkaSent, _akkaReceived, _retiredSent, _retiredReceived;
    private TimeSpan _akkaEncoding, _retiredEncoding;

    public ChannelKind Kind => worker.Path.Address.HasLocalScope ? ChannelKind.InProcess : _akkaOnly ? ChannelKind.Akka : ChannelKind.DataPlane;

    public long BytesSent => _akkaSent + _retiredSent + (_link?.BytesSent ?? 0);

    public long BytesReceived => _akkaReceived + _retiredReceived + (_link?.BytesReceived ?? 0);

    public TimeSpan Encoding => _akkaEncoding + _retiredEncoding + (_link?.Encoding ?? TimeSpan.Zero);

    public void Send(IProtocolMessage message)
    {
        switch (Kind)
        {
            case ChannelKind.InProcess:
                worker.Tell(message, run);
                break;
            case ChannelKind.DataPlane:
                Link().Send(message);
                break;
            default:
                long start = Stopwatch.GetTimestamp();
                _akkaSent += Chunking.Tell(system, worker, message, run);
                _akkaEncoding += Stopwatch.GetElapsedTime(start);
                break;
        }
    }

    public bool SendOnDataPlane(IProtocolMessage message)
    {
        if (_akkaOnly)
        {
            return false;
        }

        Link().Send(message);
        return true;
    }

    public void FallBackToAkka()
    {
        _akkaOnly = true;
        CloseLink();
    }

    public void ReceivedOverAkka(long bytes) => _akkaReceived += bytes;

    /// <summary>True when <paramref name="closed"/> is about this channel's live link (a late one of a link replaced is not).</summary>
    public bool Owns(LinkClosed closed) => _link is not null && ReferenceEquals(closed.Link, _link);

    public void Dispose() => CloseLink();

    private DataLink Link()
    {
        if (_link is null)
        {
            DataLink? created = null;
            created = new DataLink(endpoint, message => run.Tell(message, worker), reason => run.Tell(new LinkClosed(worker, created!, reason)), traffic, trust: NodeTrustSetup.Of(system));
            _link = created;
        }

        return _link;
    }

    private void CloseLink()
    {
        if (_link is { } link)
        {
            _retiredSent += link.BytesSent;
            _retiredReceived += link.BytesReceived;
            _retiredEncoding += link.Encoding;
            _link = null;
            link.Dispose();
        }
    }
}

/// <summary>A worker's data-plane link ended (told from the link's own thread).</summary>
public sealed record LinkClosed(IActorRef Worker, DataLink Link, string Reason);

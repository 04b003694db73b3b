using System.Net.Sockets;
using System.Security.Authentication;
using Akka.Actor;
using CnnCluster.PbmProtocol;
using CnnCluster.Security;

namespace CnnCluster.Shared.Pbm;

/// <summary>
/// One pbm client's socket, for its connection actor: a reader task that (with TLS) peeks at the first
/// byte, shakes hands, then tells the actor each chunk it reads (the next read waits until the actor has
/// taken it, <see cref="Taken"/>); and an outbox written one frame at a time (the actor hears
/// <see cref="Written"/> after each). Lines count against the outbox's bound, files against their own
/// (<see cref="MaxFileOutbox"/>: one export of the largest model a spec may have), so a client that asks for
/// exports and reads none holds at most that much of the node's memory before it is dropped.
/// </summary>
public sealed class PbmSocket(Socket socket, ClusterTrust? trust, TimeSpan handshakeDeadline, long maxOutbox) : IDisposable
{
    /// <summary>The first byte of a TLS handshake record.</summary>
    private const byte TlsHandshake = 0x16;

    /// <summary>One model file of the largest spec (its parameters and spec), waiting for its client.</summary>
    public const long MaxFileOutbox = (4 * Engine.Models.ModelBudget.MaxParameters) + (16 << 20);

    private readonly Queue<(byte[] Frame, bool Counted)> _outbox = new();
    private readonly CancellationTokenSource _dropped = new();
    private readonly SemaphoreSlim _taken = new(0);
    private Stream? _stream;
    private bool _writing;

    /// <summary>Bytes of lines waiting for the client.</summary>
    public long OutboxBytes { get; private set; }

    /// <summary>Bytes of files waiting for the client.</summary>
    public long FileBytes { get; private set; }

    /// <summary>True once the stream (plain or TLS) is there to write to.</summary>
    public bool Open => _stream is not null;

    public void Start(IActorRef owner) => _ = ReadLoop(owner);

    /// <summary>The reader may read the next chunk.</summary>
    public void Taken() => _taken.Release();

    public void Ready(Stream stream) => _stream = stream;

    /// <summary>Queues a message for the client; false (and the outbox emptied) when the client does not read what waits.</summary>
    public bool Enqueue(IPbmMessage message)
    {
        byte[] frame = Framing.Encode(message);
        bool counted = message is not FileChunk;
        _outbox.Enqueue((frame, counted));
        OutboxBytes += counted ? frame.Length : 0;
        FileBytes += counted ? 0 : frame.Length;
        if (OutboxBytes <= maxOutbox && FileBytes <= MaxFileOutbox)
        {
            return true;
        }

        _outbox.Clear();
        (OutboxBytes, FileBytes) = (0, 0);
        return false;
    }

    /// <summary>Writes the next queued frame unless one is being written; true when nothing is queued or being written.</summary>
    public bool WriteNext(IActorRef owner)
    {
        if (_writing || _stream is null)
        {
            return false;
        }

        if (_outbox.Count == 0)
        {
            return true;
        }

        _writing = true;
        (byte[] frame, bool counted) = _outbox.Dequeue();
        OutboxBytes -= counted ? frame.Length : 0;
        FileBytes -= counted ? 0 : frame.Length;
        _stream.WriteAsync(frame).AsTask().ContinueWith(
            t => t.IsCompletedSuccessfully ? (object)Written.Instance : WriteFailed.Instance,
            TaskScheduler.Default).PipeTo(owner);
        return false;
    }

    /// <summary>The frame being written is written.</summary>
    public void WriteDone() => _writing = false;

    /// <summary>Shuts the sending side (the client reads what was sent, then sees the end); false when the socket is gone.</summary>
    public bool ShutdownSend()
    {
        try
        {
            socket.Shutdown(SocketShutdown.Send);
            return true;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            return false;
        }
    }

    public void Dispose()
    {
        _dropped.Cancel();
        socket.Dispose();
    }

    /// <summary>
    /// With TLS, peeks at the first byte (a client without TLS is told so in plain frames: <see cref="Ready.Plain"/>)
    /// and shakes hands; then reads chunk after chunk, each after the actor took the last.
    /// </summary>
    private async Task ReadLoop(IActorRef owner)
    {
        CancellationToken dropped = _dropped.Token;
        try
        {
            var network = new NetworkStream(socket, ownsSocket: false);
            Stream stream = network;
            bool plain = false;
            if (trust is not null)
            {
                var first = new byte[1];
                if (await socket.ReceiveAsync(first, SocketFlags.Peek, dropped).ConfigureAwait(false) == 0)
                {
                    owner.Tell(new ReadEnded(null));
                    return;
                }

                plain = first[0] != TlsHandshake;
                if (!plain)
                {
                    try
                    {
                        stream = await Tls.ServerAsync(network, trust, handshakeDeadline, dropped, mutual: false).ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is AuthenticationException or IOException or OperationCanceledException)
                    {
                        owner.Tell(new ReadEnded(Tls.Reason(e, handshakeDeadline)));
                        return;
                    }
                }
            }

            owner.Tell(new Opened(stream, plain));
            var chunk = new byte[16 * 1024];
            while (true)
            {
                int n = await stream.ReadAsync(chunk, dropped).ConfigureAwait(false);
                if (n == 0)
                {
                    owner.Tell(new ReadEnded(null));
                    return;
                }

                owner.Tell(new Received(chunk[..n]));
                await _taken.WaitAsync(dropped).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            if (!dropped.IsCancellationRequested)
            {
                owner.Tell(new ReadEnded(null)); // reset by the client: nothing to add
            }
        }
    }

    /// <summary>The stream is there; <paramref name="Plain"/> when TLS is required and the client did not start it.</summary>
    public sealed record Opened(Stream Stream, bool Plain);

    /// <summary>A chunk read from the client (the next is read once the actor calls <see cref="Taken"/>).</summary>
    public sealed record Received(byte[] Data);

    /// <summary>The reader ended: the client closed (<paramref name="Why"/> null) or the TLS handshake failed.</summary>
    public sealed record ReadEnded(string? Why);

    public sealed class Written
    {
        public static readonly Written Instance = new();
    }

    public sealed class WriteFailed
    {
        public static readonly WriteFailed Instance = new();
    }
}

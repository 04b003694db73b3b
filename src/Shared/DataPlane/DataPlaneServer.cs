using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using CnnCluster.Shared.Protocol;
using CnnCluster.Security;

namespace CnnCluster.Shared.DataPlane;

/// <summary>
/// A worker's end of the data plane: listens on a TCP port, reads what coordinators' runs and peer
/// workers send (assignments, replicas, step plans, slices) and hands each to <paramref name="onMessage"/>
/// with a reply channel on the same connection. One connection per coordinator run or peer; a malformed
/// peer loses its connection, never the worker. Bytes are counted into <paramref name="traffic"/> when given.
/// With the cluster's <paramref name="trust"/> every connection is mutual TLS: a peer without a certificate
/// of the cluster's authority is refused in the handshake, before a byte of the protocol is read, and each
/// message is then checked against the role in the sender's certificate (<see cref="DataPlaneAccess"/>): a
/// connection that sends what its role may not send is refused in one line, counted, and closed. A peer
/// worker's slices are delivered only once its connection proved which member's it is (<see cref="InboundPeer"/>,
/// with <see cref="Peers"/>), as that member's (<see cref="IWorkReplies.Peer"/>).
/// </summary>
public sealed class DataPlaneServer(string bind, int port, string advertisedHost, Action<IProtocolMessage, IWorkReplies> onMessage, Action<string> log, DataTraffic? traffic = null, ClusterTrust? trust = null) : IDisposable
{
    /// <summary>Connections open at once: a worker's coordinators and peers, with room; one more is refused at accept.</summary>
    public const int MaxConnections = 512;

    /// <summary>How long a connection may take for its TLS handshake.</summary>
    public static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);

    /// <summary>How long a peer's connection may take, from its hello, to prove whose it is (<see cref="ProofTimeout"/>).</summary>
    public static readonly TimeSpan DefaultProofTimeout = TimeSpan.FromSeconds(10);

    /// <summary>How long a peer's connection may take, from its hello, to prove whose it is; then it is closed.</summary>
    public TimeSpan ProofTimeout { get; init; } = DefaultProofTimeout;

    /// <summary>Bytes of slices held, over all connections, for peers not proven yet: a step's worth of the largest model.</summary>
    public const long MaxUnprovenBytes = DataFrames.MaxFrameBytes;

    private readonly CancellationTokenSource _stop = new();
    private TcpListener? _listener;
    private long _refused;
    private int _open;
    private readonly OncePerSecond _floods = new(log);
    private readonly OncePerSecond _failedHandshakes = new(log);
    private long _unprovenBytes;

    /// <summary>This worker's links to its peers, for the peer handshake; without them no peer connection is proven (and no slice taken).</summary>
    public IPeerDialer? Peers { get; set; }

    /// <summary>Messages refused for their sender's role, and connections beyond <see cref="MaxConnections"/>, so far.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Connections open now.</summary>
    public int OpenConnections => Volatile.Read(ref _open);

    /// <summary>"host:port" as coordinators reach it (empty until started).</summary>
    public string Endpoint { get; private set; } = "";

    public void Start()
    {
        IPAddress address = IPAddress.TryParse(bind, out IPAddress? ip) ? ip : Dns.GetHostAddresses(bind).First(a => a.AddressFamily == AddressFamily.InterNetwork);
        _listener = new TcpListener(address, port);
        _listener.Start();
        Endpoint = $"{advertisedHost}:{((IPEndPoint)_listener.LocalEndpoint).Port}";
        _ = AcceptLoop(_listener);
    }

    private async Task AcceptLoop(TcpListener listener)
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptSocketAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException e)
            {
                log($"data plane: accept failed: {e.Message}");
                continue;
            }

            if (Interlocked.Increment(ref _open) > MaxConnections)
            {
                Interlocked.Decrement(ref _open);
                long refused = Interlocked.Increment(ref _refused);
                EndPoint? from = socket.RemoteEndPoint;
                _floods.Tell(() => $"data plane: refused a connection from {from}: {MaxConnections} are open, the limit ({refused} refused so far)");

                socket.Dispose();
                continue;
            }

            socket.NoDelay = true;
            _ = ServeCounted(socket);
        }
    }

    private async Task ServeCounted(Socket socket)
    {
        try
        {
            await Serve(socket).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _open);
        }
    }

    private async Task Serve(Socket socket)
    {
        EndPoint? peer = socket.RemoteEndPoint;
        Stream stream = new NetworkStream(socket, ownsSocket: true);
        NodeRole? role = null;
        if (trust is not null)
        {
            try
            {
                var ssl = await Tls.ServerAsync(stream, trust, HandshakeTimeout, _stop.Token).ConfigureAwait(false);
                role = ClusterTrust.RoleOf(ssl.RemoteCertificate);
                stream = ssl;
            }
            catch (Exception e) when (e is AuthenticationException or IOException or OperationCanceledException)
            {
                // a flood of connections that never finish their handshake is told once a second
                _failedHandshakes.Tell(() => $"data plane: refused {peer}: {Tls.Reason(e, HandshakeTimeout)}");
                await stream.DisposeAsync().ConfigureAwait(false);
                return;
            }
        }

        await using Stream owned = stream;
        var peerOf = new InboundPeer();
        var connection = new Connection(PipeWriter.Create(stream, new StreamPipeWriterOptions(minimumBufferSize: 1 << 16)), traffic, peerOf);
        PipeReader input = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 1 << 16));
        using var proofDue = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        try
        {
            await DataFrames.ExpectPreamble(input, _stop.Token).ConfigureAwait(false);
            await DataFrames.ReadAll(input, (message, bytes) =>
            {
                if (message is not (WorkAssignment or ReplicaInit or StepPlan or SlicePart or SliceSum or PeerHello or PeerChallenge or PeerProof or PartsAgreed or SumsAgreed or PartsRequest))
                {
                    throw new InvalidDataException($"a worker does not take a {message.GetType().Name}");
                }

                if (DataPlaneAccess.Refusal(message, role, trust is not null) is { } refusal)
                {
                    throw new InvalidDataException($"refused: {refusal} ({Interlocked.Increment(ref _refused)} refused so far)");
                }

                traffic?.Received(DataFrames.KindOf(message), bytes);
                Route(message, bytes, connection, peerOf, proofDue);
            }, proofDue.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or SocketException)
        {
            log($"data plane: connection from {peer} closed: {e.Message}");
        }
        catch (OperationCanceledException) when (!_stop.IsCancellationRequested)
        {
            log($"data plane: connection from {peer} closed: it said it is {peerOf.Claimed} and did not prove it within {ProofTimeout.TotalSeconds:F0} s");
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            Interlocked.Add(ref _unprovenBytes, -peerOf.HeldBytes);
            connection.Close();
            await input.CompleteAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The peer handshake is answered here; a slice is delivered as its proven sender's, held until the proof
    /// when its sender only said who it is, and refused (the connection closed) when it did not even say.
    /// </summary>
    private void Route(IProtocolMessage message, long bytes, Connection connection, InboundPeer peerOf, CancellationTokenSource proofDue)
    {
        switch (message)
        {
            case PeerHello hello:
                PeerChallenge challenge = peerOf.Hello(hello, Endpoint);
                proofDue.CancelAfter(ProofTimeout);
                if (Peers is not { } dialer)
                {
                    throw new InvalidDataException("this data plane takes no slices from peers");
                }

                dialer.Challenge(hello.Endpoint, challenge);
                return;
            case PeerChallenge c:
                if (Peers?.Answer(c) != true)
                {
                    log($"data plane: a challenge from {TerminalText.Safe(c.Endpoint)} for a link this worker did not open; not answered");
                }

                return;
            case PeerProof proof:
                if (peerOf.Prove(proof))
                {
                    proofDue.CancelAfter(Timeout.InfiniteTimeSpan);
                    foreach ((IProtocolMessage held, long heldBytes) in peerOf.TakeHeld())
                    {
                        Interlocked.Add(ref _unprovenBytes, -heldBytes);
                        onMessage(held, connection);
                    }
                }

                return;
            case ISliceMessage when peerOf.Proven is null:
                if (peerOf.Claimed is null)
                {
                    throw new InvalidDataException($"refused: a {message.GetType().Name} from a peer that did not say which member it is ({Interlocked.Increment(ref _refused)} refused so far)");
                }

                if (Interlocked.Add(ref _unprovenBytes, bytes) > MaxUnprovenBytes)
                {
                    Interlocked.Add(ref _unprovenBytes, -bytes);
                    throw new InvalidDataException($"peers not proven yet would hold more than {MaxUnprovenBytes} bytes here");
                }

                peerOf.Hold(message, bytes);
                return;
            default:
                onMessage(message, connection);
                return;
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener?.Stop();
    }

    /// <summary>Answers on the connection a message came by; called from the worker's threads.</summary>
    private sealed class Connection(PipeWriter output, DataTraffic? traffic, InboundPeer peer) : IWorkReplies
    {
        private readonly Lock _lock = new();
        private readonly ArrayBufferWriter<byte> _scratch = new(1 << 16);
        private bool _closed;

        public bool Serializes => true;

        public string? Peer => peer.Proven;

        public void Send(IProtocolMessage message)
        {
            lock (_lock)
            {
                if (_closed)
                {
                    return; // the coordinator's link is gone; it reassigns the work
                }

                try
                {
                    long bytes = DataFrames.Write(output, message, _scratch);
                    traffic?.Sent(DataFrames.KindOf(message), bytes);
                    output.FlushAsync().AsTask().GetAwaiter().GetResult();
                }
                catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or InvalidOperationException)
                {
                    _closed = true;
                }
            }
        }

        public void Close()
        {
            lock (_lock)
            {
                _closed = true;
                output.Complete();
            }
        }
    }
}

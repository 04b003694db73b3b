using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Threading.Channels;
using CnnCluster.Shared.Protocol;
using CnnCluster.Security;

namespace CnnCluster.Shared.DataPlane;

/// <summary>
/// A connection to one worker's <see cref="DataPlaneServer"/>, from a coordinator's run or from a peer
/// worker: <see cref="Send"/> queues a message and returns at once (from any thread); a send loop
/// connects, encodes and writes in order, a receive loop decodes the answers and hands them to
/// <paramref name="onMessage"/>. <paramref name="onClosed"/> is called once when the link ends for any
/// reason but <see cref="Dispose"/>. Bytes are also counted into <paramref name="traffic"/> when given, and
/// <paramref name="onEncoded"/> hears of each message once its arrays are no longer read. With the cluster's
/// <paramref name="trust"/> the link is mutual TLS (the worker must show a worker's certificate of the cluster's authority).
/// </summary>
public sealed class DataLink(string endpoint, Action<IProtocolMessage> onMessage, Action<string> onClosed, DataTraffic? traffic = null, Action<IProtocolMessage>? onEncoded = null, ClusterTrust? trust = null) : IDisposable
{
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(5);
    private readonly Channel<IProtocolMessage> _outbox = Channel.CreateUnbounded<IProtocolMessage>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _stop = new();
    private long _bytesSent, _bytesReceived, _encodeTicks;
    private int _closed;
    private Task? _running;

    public string Endpoint => endpoint;

    public long BytesSent => Interlocked.Read(ref _bytesSent);

    public long BytesReceived => Interlocked.Read(ref _bytesReceived);

    /// <summary>Time spent encoding messages so far (the sender's serialization).</summary>
    public TimeSpan Encoding => Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _encodeTicks));

    /// <summary>Queues a message; the link connects on first use. Its arrays are read later, on the send loop.</summary>
    public void Send(IProtocolMessage message)
    {
        lock (_outbox)
        {
            _running ??= Run();
        }

        _outbox.Writer.TryWrite(message);
    }

    private async Task Run()
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            int colon = endpoint.LastIndexOf(':');
            using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token))
            {
                timeout.CancelAfter(ConnectTimeout);
                await socket.ConnectAsync(endpoint[..colon], int.Parse(endpoint[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture), timeout.Token).ConfigureAwait(false);
            }

            Stream network = new NetworkStream(socket, ownsSocket: false);
            await using Stream stream = trust is null ? network : await Tls.ClientAsync(network, endpoint[..colon], trust, DataPlaneServer.HandshakeTimeout, _stop.Token, serverRole: NodeRole.Worker).ConfigureAwait(false);
            PipeWriter output = PipeWriter.Create(stream, new StreamPipeWriterOptions(minimumBufferSize: 1 << 16, leaveOpen: true));
            PipeReader input = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 1 << 16, leaveOpen: true));
            output.Write(DataFrames.Preamble);
            await output.FlushAsync(_stop.Token).ConfigureAwait(false);
            Task receiving = DataFrames.ReadAll(input, (message, bytes) =>
            {
                Interlocked.Add(ref _bytesReceived, bytes);
                traffic?.Received(DataFrames.KindOf(message), bytes);
                onMessage(message);
            }, _stop.Token);
            Task sending = SendLoop(output);
            Task first = await Task.WhenAny(receiving, sending).ConfigureAwait(false);
            await first.ConfigureAwait(false); // its exception, if any, says why the link ended
            Close("the worker closed the data-plane connection");
        }
        catch (Exception e) when (!_stop.IsCancellationRequested)
        {
            Close($"data-plane link to {endpoint} failed: {e.Message}");
        }
        catch (Exception)
        {
            // disposed
        }
    }

    private async Task SendLoop(PipeWriter output)
    {
        var scratch = new ArrayBufferWriter<byte>(1 << 16);
        await foreach (IProtocolMessage message in _outbox.Reader.ReadAllAsync(_stop.Token).ConfigureAwait(false))
        {
            long start = Stopwatch.GetTimestamp();
            long bytes = DataFrames.Write(output, message, scratch);
            Interlocked.Add(ref _encodeTicks, Stopwatch.GetTimestamp() - start);
            Interlocked.Add(ref _bytesSent, bytes);
            traffic?.Sent(DataFrames.KindOf(message), bytes);
            onEncoded?.Invoke(message);
            FlushResult flushed = await output.FlushAsync(_stop.Token).ConfigureAwait(false);
            if (flushed.IsCompleted)
            {
                return;
            }
        }
    }

    private void Close(string reason)
    {
        if (Interlocked.Exchange(ref _closed, 1) == 0)
        {
            _stop.Cancel();
            onClosed(reason);
        }
    }

    public void Dispose()
    {
        Interlocked.Exchange(ref _closed, 1);
        _stop.Cancel();
        _outbox.Writer.TryComplete();
    }
}

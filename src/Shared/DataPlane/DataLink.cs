using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Threading.Channels;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Shared.DataPlane;

/// <summary>
/// A coordinator's connection to one worker's <see cref="DataPlaneServer"/>: <see cref="Send"/> queues an
/// assignment and returns at once; a send loop connects, encodes and writes, a receive loop decodes the
/// worker's answers and hands them to <paramref name="onMessage"/>. <paramref name="onClosed"/> is called
/// once when the link ends for any reason but <see cref="Dispose"/> (the run then reassigns what the
/// worker had and stops using this link).
/// </summary>
public sealed class DataLink(string endpoint, Action<IProtocolMessage> onMessage, Action<string> onClosed) : IDisposable
{
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(5);
    private readonly Channel<WorkAssignment> _outbox = Channel.CreateUnbounded<WorkAssignment>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly CancellationTokenSource _stop = new();
    private long _bytesSent, _bytesReceived, _encodeTicks;
    private int _closed;
    private Task? _running;

    public string Endpoint => endpoint;

    public long BytesSent => Interlocked.Read(ref _bytesSent);

    public long BytesReceived => Interlocked.Read(ref _bytesReceived);

    /// <summary>Time spent encoding assignments so far (the coordinator's serialization).</summary>
    public TimeSpan Encoding => Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _encodeTicks));

    /// <summary>Queues an assignment; the link connects on first use. The parameters are read later, on the send loop.</summary>
    public void Send(WorkAssignment work)
    {
        _running ??= Run();
        _outbox.Writer.TryWrite(work);
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

            await using var stream = new NetworkStream(socket, ownsSocket: false);
            PipeWriter output = PipeWriter.Create(stream, new StreamPipeWriterOptions(minimumBufferSize: 1 << 16, leaveOpen: true));
            PipeReader input = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 1 << 16, leaveOpen: true));
            output.Write(DataFrames.Preamble);
            await output.FlushAsync(_stop.Token).ConfigureAwait(false);
            Task receiving = DataFrames.ReadAll(input, (message, bytes) =>
            {
                Interlocked.Add(ref _bytesReceived, bytes);
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
        await foreach (WorkAssignment work in _outbox.Reader.ReadAllAsync(_stop.Token).ConfigureAwait(false))
        {
            long start = Stopwatch.GetTimestamp();
            long bytes = DataFrames.Write(output, work, scratch);
            Interlocked.Add(ref _encodeTicks, Stopwatch.GetTimestamp() - start);
            Interlocked.Add(ref _bytesSent, bytes);
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

using System.Net.Sockets;

namespace CnnCluster.PbmProtocol;

/// <summary>
/// The client side of a pbm connection over TCP (or TLS, when <c>secure</c> wraps the stream):
/// send messages, receive them one by one.
/// </summary>
public sealed class PbmConnection : IDisposable
{
    private readonly TcpClient _client;
    private readonly Stream _stream;
    private readonly Queue<IPbmMessage> _received = new();
    private readonly FrameDecoder _decoder = new();

    private PbmConnection(TcpClient client, Stream stream)
    {
        _client = client;
        _stream = stream;
    }

    /// <summary>Connects within <paramref name="timeout"/>; <paramref name="secure"/>, when given, turns the network stream into a TLS one (its own deadline).</summary>
    public static async Task<PbmConnection> ConnectAsync(string host, int port, TimeSpan timeout, CancellationToken cancellation = default, Func<Stream, Task<Stream>>? secure = null)
    {
        var client = new TcpClient { NoDelay = true };
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        cts.CancelAfter(timeout);
        try
        {
            await client.ConnectAsync(host, port, cts.Token);
        }
        catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
        {
            client.Dispose();
            throw new TimeoutException($"no answer from {host}:{port} within {timeout.TotalSeconds:F0} s");
        }
        catch
        {
            client.Dispose();
            throw;
        }

        Stream stream = client.GetStream();
        if (secure is not null)
        {
            try
            {
                stream = await secure(stream);
            }
            catch
            {
                client.Dispose();
                throw;
            }
        }

        return new PbmConnection(client, stream);
    }

    public Task SendAsync(IPbmMessage message, CancellationToken cancellation = default) => _stream.WriteAsync(Framing.Encode(message), cancellation).AsTask();

    /// <summary>The next message, or null when the node closed the connection.</summary>
    public async Task<IPbmMessage?> ReceiveAsync(CancellationToken cancellation = default)
    {
        while (_received.Count == 0)
        {
            var chunk = new byte[64 * 1024];
            int n = await _stream.ReadAsync(chunk, cancellation);
            if (n == 0)
            {
                return null;
            }

            foreach (IPbmMessage m in _decoder.Decode(chunk.AsSpan(0, n)))
            {
                _received.Enqueue(m);
            }
        }

        return _received.Dequeue();
    }

    public void Dispose()
    {
        _stream.Dispose();
        _client.Dispose();
    }
}

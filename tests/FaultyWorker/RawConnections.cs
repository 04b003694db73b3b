using System.Buffers.Binary;
using System.Net.Sockets;
using CnnCluster.Security;
using CnnCluster.Shared.DataPlane;

namespace CnnCluster.FaultyWorker;

/// <summary>A hostile member's attacks on a peer's data plane below the frame layer: a connection flood, an oversized frame.</summary>
internal static class RawConnections
{
    /// <summary>Opens <paramref name="count"/> connections to <paramref name="endpoint"/> (saying nothing on them) and holds them for <paramref name="hold"/>.</summary>
    public static async Task Flood(string endpoint, int count, TimeSpan hold)
    {
        (string host, int port) = Split(endpoint);
        var flood = new List<TcpClient>();
        try
        {
            for (int i = 0; i < count; i++)
            {
                var c = new TcpClient();
                flood.Add(c);
                await c.ConnectAsync(host, port).ConfigureAwait(false);
            }

            await Task.Delay(hold).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            Console.Error.WriteLine($"attack: the flood stopped at {flood.Count} connections: {e.Message}");
        }
        finally
        {
            flood.ForEach(c => c.Dispose());
        }
    }

    /// <summary>Over TLS with this member's certificate: the preamble, then a step plan's header announcing 200 MiB.</summary>
    public static async Task OversizedFrame(string endpoint, ClusterTrust? trust)
    {
        (string host, int port) = Split(endpoint);
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(host, port).ConfigureAwait(false);
            Stream network = client.GetStream();
            await using Stream stream = trust is null ? network
                : await Tls.ClientAsync(network, host, trust, DataPlaneServer.HandshakeTimeout, CancellationToken.None, serverRole: NodeRole.Worker).ConfigureAwait(false);
            var header = new byte[5];
            BinaryPrimitives.WriteInt32LittleEndian(header, 200 << 20);
            header[4] = (byte)FrameKind.StepPlan;
            await stream.WriteAsync(DataFrames.Preamble.ToArray()).ConfigureAwait(false);
            await stream.WriteAsync(header).ConfigureAwait(false);
            await stream.WriteAsync(new byte[64 << 10]).ConfigureAwait(false);
            await stream.FlushAsync().ConfigureAwait(false);
            using var read = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            int n = await stream.ReadAsync(new byte[16], read.Token).ConfigureAwait(false);
            Console.Error.WriteLine($"attack: the oversized frame's connection {(n == 0 ? "was closed by the peer" : "was answered")}");
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
        {
            Console.Error.WriteLine($"attack: the oversized frame's connection ended: {e.Message}");
        }
    }

    private static (string Host, int Port) Split(string endpoint)
    {
        int colon = endpoint.LastIndexOf(':');
        return (endpoint[..colon], int.Parse(endpoint[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture));
    }
}

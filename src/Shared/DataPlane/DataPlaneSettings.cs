using System.Globalization;
using CnnCluster.Shared.Hosting;

namespace CnnCluster.Shared.DataPlane;

/// <summary>
/// Where a worker node's data plane listens: the node's bind address and advertised host name
/// (CLUSTER_BIND, CLUSTER_HOSTNAME) and DATA_PORT (default 0: any free port, announced to the
/// coordinator in the worker's <see cref="Protocol.WorkerInfo"/>). Worker actor i of a node uses
/// DATA_PORT + i when DATA_PORT is set.
/// </summary>
public sealed record DataPlaneSettings(string Bind, string AdvertisedHost, int Port)
{
    public static DataPlaneSettings FromEnvironment(NodeSettings node, Func<string, string?>? env = null)
    {
        env ??= Environment.GetEnvironmentVariable;
        int port = 0;
        if (env("DATA_PORT") is { Length: > 0 } text && (!int.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out port) || port > 65535))
        {
            throw new ArgumentException($"DATA_PORT '{text}' is not a port number (0-65535; 0 picks a free one)");
        }

        return new DataPlaneSettings(node.Bind, node.Hostname, port);
    }

    /// <summary>The settings of worker actor <paramref name="index"/> on this node.</summary>
    public DataPlaneSettings ForActor(int index) => Port == 0 ? this : this with { Port = Port + index };
}

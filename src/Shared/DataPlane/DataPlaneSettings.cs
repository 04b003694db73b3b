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
        return new DataPlaneSettings(node.Bind, node.Hostname, NodeSettings.PortFrom(env ?? Environment.GetEnvironmentVariable, "DATA_PORT", 0));
    }

    /// <summary>The settings of worker actor <paramref name="index"/> on this node.</summary>
    public DataPlaneSettings ForActor(int index) => Port == 0 ? this : this with { Port = Port + index };
}

using System.Net.Sockets;
using Akka.Actor;
using Akka.Hosting;

namespace CnnCluster.Shared.Pbm;

/// <summary>Starts a node's pbm command host with the palettes it serves (the cluster palette always).</summary>
public static class PbmHosting
{
    /// <summary>
    /// The host accepts on <paramref name="listener"/> (bound up front by <see cref="PbmHostSettings.Listen"/>,
    /// owned by the caller, so a taken port is an error before the node starts and a worker keeps its port across memberships).
    /// </summary>
    public static AkkaConfigurationBuilder WithPbmHost(this AkkaConfigurationBuilder builder, PbmHostSettings settings, TcpListener listener, Func<ActorSystem, IActorRegistry, IEnumerable<IPalette>>? palettes = null)
    {
        return builder.WithActors((system, registry) =>
        {
            var all = new List<IPalette> { new ClusterPalette(system) };
            if (palettes is not null)
            {
                all.AddRange(palettes(system, registry));
            }

            string node = Akka.Cluster.Cluster.Get(system).SelfAddress.ToString();
            system.ActorOf(PbmHost.Props(settings, listener, all, node), "pbm-host");
        });
    }
}

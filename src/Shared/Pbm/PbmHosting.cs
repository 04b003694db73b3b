using Akka.Actor;
using Akka.Hosting;

namespace CnnCluster.Shared.Pbm;

/// <summary>Starts a node's pbm command host with the palettes it serves (the cluster palette always).</summary>
public static class PbmHosting
{
    public static AkkaConfigurationBuilder WithPbmHost(this AkkaConfigurationBuilder builder, PbmHostSettings settings, Func<ActorSystem, IActorRegistry, IEnumerable<IPalette>>? palettes = null)
    {
        return builder.WithActors((system, registry) =>
        {
            var all = new List<IPalette> { new ClusterPalette(system) };
            if (palettes is not null)
            {
                all.AddRange(palettes(system, registry));
            }

            string node = Akka.Cluster.Cluster.Get(system).SelfAddress.ToString();
            system.ActorOf(PbmHost.Props(settings, all, node), "pbm-host");
        });
    }
}

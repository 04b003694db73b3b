using Akka.Actor;
using Akka.Cluster.Hosting;
using Akka.Hosting;
using Akka.Pattern;
using CnnCluster.Coordinator.Registry;
using CnnCluster.Shared.Hosting;

namespace CnnCluster.Coordinator.Cluster;

/// <summary>The coordinator's actors, through Akka.Hosting.</summary>
public static class CoordinatorHosting
{
    /// <summary>
    /// The run registry as a cluster singleton on role `coordinator`, with its proxy in the ActorRegistry.
    /// The singleton is a backoff supervisor around the registry: a journal that fails while the registry
    /// persists (or recovers) stops it, and it is started again and recovers, 1 s to 30 s later; the
    /// supervisor forwards every message both ways, so clients and runs see one actor.
    /// </summary>
    public static AkkaConfigurationBuilder WithCoordinator(this AkkaConfigurationBuilder builder, CoordinatorOptions options)
    {
        return builder.WithSingleton<RunRegistry>(
            "run-registry",
            SupervisedRegistry(options),
            new ClusterSingletonOptions { Role = Roles.Coordinator },
            createProxyToo: true);
    }

    /// <summary>The registry under its backoff supervisor: the singleton's actor.</summary>
    public static Props SupervisedRegistry(CoordinatorOptions options) =>
        BackoffSupervisor.Props(Backoff.OnStop(RunRegistry.Props(options), "registry", TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), 0.2, maxNrOfRetries: -1));
}

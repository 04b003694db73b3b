using Akka.Cluster.Hosting;
using Akka.Hosting;
using CnnCluster.Shared.Hosting;

namespace CnnCluster.Coordinator.Cluster;

/// <summary>The coordinator's actors, through Akka.Hosting.</summary>
public static class CoordinatorHosting
{
    /// <summary>The run registry as a cluster singleton on role `coordinator`, with its proxy in the ActorRegistry.</summary>
    public static AkkaConfigurationBuilder WithCoordinator(this AkkaConfigurationBuilder builder, CoordinatorOptions options)
    {
        return builder.WithSingleton<RunRegistry>(
            "run-registry",
            RunRegistry.Props(options),
            new ClusterSingletonOptions { Role = Roles.Coordinator },
            createProxyToo: true);
    }
}

using Akka.Hosting;
using CnnCluster.Shared.DataPlane;
using CnnCluster.Shared.Hosting;

namespace CnnCluster.Worker;

/// <summary>Starts gradient workers on a node, as actors /user/worker-0 .. worker-(count-1).</summary>
public static class WorkerHosting
{
    public const string ActorNamePrefix = "worker-";

    /// <summary>Worker actors; with <paramref name="dataPlane"/> each also listens for assignments on its own data-plane port.</summary>
    public static AkkaConfigurationBuilder WithGradientWorkers(this AkkaConfigurationBuilder builder, int count, int threadsEach, string? dataDirectory, DataPlaneSettings? dataPlane = null)
    {
        return builder.WithActors((system, registry) =>
        {
            for (int i = 0; i < count; i++)
            {
                system.ActorOf(GradientWorker.Props(new WorkerEngine(threadsEach, dataDirectory), dataPlane?.ForActor(i)), ActorNamePrefix + i);
            }
        });
    }
}

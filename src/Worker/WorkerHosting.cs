using Akka.Hosting;
using CnnCluster.Shared.Hosting;

namespace CnnCluster.Worker;

/// <summary>Starts gradient workers on a node, as actors /user/worker-0 .. worker-(count-1).</summary>
public static class WorkerHosting
{
    public const string ActorNamePrefix = "worker-";

    public static AkkaConfigurationBuilder WithGradientWorkers(this AkkaConfigurationBuilder builder, int count, int threadsEach, string? dataDirectory)
    {
        return builder.WithActors((system, registry) =>
        {
            for (int i = 0; i < count; i++)
            {
                system.ActorOf(GradientWorker.Props(new WorkerEngine(threadsEach, dataDirectory)), ActorNamePrefix + i);
            }
        });
    }
}

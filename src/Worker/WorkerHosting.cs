using Akka.Hosting;
using CnnCluster.Shared.DataPlane;
using CnnCluster.Shared.Hosting;

namespace CnnCluster.Worker;

/// <summary>Starts gradient workers on a node, as actors /user/worker-0 .. worker-(count-1).</summary>
public static class WorkerHosting
{
    public const string ActorNamePrefix = "worker-";

    // Each worker actor on its own thread: an assignment told from the run actor's pool thread would
    // otherwise wait in that thread's local queue until the run actor's message ends (the step's hash)
    private const string Dispatcher = "cnn-worker-dispatcher";

    /// <summary>Worker actors; with <paramref name="dataPlane"/> each also listens for assignments on its own data-plane port.</summary>
    public static AkkaConfigurationBuilder WithGradientWorkers(this AkkaConfigurationBuilder builder, int count, int threadsEach, string? dataDirectory, DataPlaneSettings? dataPlane = null)
    {
        return builder
            .AddHocon($"{Dispatcher} {{ type = PinnedDispatcher }}", HoconAddMode.Append)
            .WithActors((system, registry) =>
            {
                for (int i = 0; i < count; i++)
                {
                    system.ActorOf(GradientWorker.Props(new WorkerEngine(threadsEach, dataDirectory), dataPlane?.ForActor(i)).WithDispatcher(Dispatcher), ActorNamePrefix + i);
                }

                ResultFaults.Started?.Invoke(system);
            });
    }
}

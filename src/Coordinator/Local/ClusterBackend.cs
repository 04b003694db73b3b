using Akka.Actor;
using Akka.Hosting;
using CnnCluster.Coordinator.Cluster;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.Hosting;
using CnnCluster.Shared.Protocol;
using CnnCluster.Worker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace CnnCluster.Coordinator.Local;

/// <summary>
/// The embedded cluster: this process is a coordinator node on 127.0.0.1 (the run registry singleton)
/// with N worker actors of its own, plus real worker processes that join it; the run is submitted to
/// the registry like any other and followed through its events.
/// </summary>
public sealed class ClusterBackend(string runDirectory) : ITrainingBackend
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    public BackendResult Train(TrainRequest request, ModelSpec spec, RunData data, ITrainingObserver observer, TextWriter output, CancellationToken cancellation)
    {
        ClusterMode mode = request.Cluster!;
        // a known port lets the node list itself as seed, so the cluster (and the registry singleton) is up at start
        int port = mode.ClusterPort == 0 ? FreePort() : mode.ClusterPort;
        var node = new NodeSettings("127.0.0.1", "127.0.0.1", port, [$"akka.tcp://{NodeSettings.SystemName}@127.0.0.1:{port}"]);
        string[] roles = mode.Workers > 0 ? [Roles.Coordinator, Roles.Worker] : [Roles.Coordinator];
        using IHost host = NodeHost.Build(LogLevel.Warning, (akka, _) =>
        {
            akka.WithCnnClusterNode(node, roles)
                .WithCoordinator(new CoordinatorOptions(data.Directory, request.Training.Threads));
            if (mode.Workers > 0)
            {
                akka.WithGradientWorkers(mode.Workers, mode.WorkerThreads, data.Directory);
            }
        });
        host.StartAsync(cancellation).GetAwaiter().GetResult();
        try
        {
            ActorSystem system = host.Services.GetRequiredService<ActorSystem>();
            Address self = JoinSelf(system);
            output.WriteLine($"cluster: coordinator at {self} (workers join with CLUSTER_SEEDS={self.Host}:{self.Port})");

            using var processes = new WorkerProcesses();
            for (int i = 0; i < mode.WorkerProcesses; i++)
            {
                processes.Start($"{self.Host}:{self.Port}", mode.WorkerThreads, data.Directory, Path.Combine(runDirectory, $"worker-{i}.log"));
            }

            var completion = new TaskCompletionSource<RunFinished>(TaskCreationOptions.RunContinuationsAsynchronously);
            IActorRef listener = system.ActorOf(RunListener.Props(observer, line => output.WriteLine(line), completion), "train-listener");
            IActorRef registry = host.Services.GetRequiredService<ActorRegistry>().Get<RunRegistry>();
            RunConfig config = RunConfig.From(spec, request.Model, request.Training, request.Limit);
            registry.Tell(new SubmitRun(request.RunId, config), listener);
            using (cancellation.Register(() => completion.TrySetCanceled()))
            {
                RunFinished finished = completion.Task.GetAwaiter().GetResult();
                return new BackendResult(finished.Steps, finished.ParamSha256, finished.ImagesPerSecond, mode.Workers + mode.WorkerProcesses, finished.Traffic);
            }
        }
        finally
        {
            host.StopAsync(TimeSpan.FromSeconds(10)).GetAwaiter().GetResult();
        }
    }

    private static int FreePort()
    {
        using var socket = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        socket.Start();
        return ((System.Net.IPEndPoint)socket.LocalEndpoint).Port;
    }

    /// <summary>Waits until this node is an Up member of its one-node cluster.</summary>
    private static Address JoinSelf(ActorSystem system)
    {
        var cluster = Akka.Cluster.Cluster.Get(system);
        var up = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        cluster.RegisterOnMemberUp(() => up.TrySetResult());
        if (!up.Task.Wait(StartTimeout))
        {
            throw new TimeoutException($"the coordinator node did not come up within {StartTimeout.TotalSeconds}s");
        }

        return cluster.SelfAddress;
    }
}

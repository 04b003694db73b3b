using Akka.Actor;
using Akka.Hosting;
using CnnCluster.Coordinator.Cluster;
using CnnCluster.Coordinator.Persistence;
using CnnCluster.Coordinator.Registry;
using CnnCluster.Coordinator.Runs;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.DataPlane;
using CnnCluster.Shared.Hosting;
using CnnCluster.Shared.Protocol;
using CnnCluster.Worker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace CnnCluster.Coordinator.Local;

/// <summary>
/// The embedded cluster: this process is a coordinator node on 127.0.0.1 (the persistent run registry
/// singleton, runs persisted to SQLite or PostgreSQL) with N worker actors of its own, plus real worker
/// processes that join it; the run is submitted (or resumed, or forked) like any other and followed
/// through its events.
/// </summary>
public sealed class ClusterBackend(ClusterMode mode, string? dataDirectory, int evaluationThreads, string logDirectory) : ITrainingBackend
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan UpTimeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Like a launcher of ranks, the run starts once the workers this command started are in (a step planned for
    /// fewer workers than asked for would be measured as the wrong cluster), or with those in 30 s after the
    /// registry first answers; the registry may take a recovery of up to 30 s (Akka's limit), a failed one's
    /// backoff and a second recovery to answer at all.
    /// </summary>
    private static readonly RegistryWait.Limits StartLimits = new(Ask: TimeSpan.FromSeconds(5), Registry: TimeSpan.FromSeconds(120), Workers: TimeSpan.FromSeconds(30));

    private IHost? _host;
    private StoreLease? _lease;
    private WorkerProcesses? _processes;
    private ActorSystem? _system;
    private IActorRef _registry = ActorRefs.Nobody;

    /// <summary>Seconds to keep retrying an unreachable database at start (PERSISTENCE_WAIT_SECONDS, default 60).</summary>
    public static TimeSpan DatabaseWait =>
        TimeSpan.FromSeconds(int.TryParse(Environment.GetEnvironmentVariable("PERSISTENCE_WAIT_SECONDS"), out int s) && s >= 0 ? s : 60);

    /// <summary>This coordinator's store lease was taken: it stops at once, before it writes again (exit 3).</summary>
    public static void LostStore(string why)
    {
        Console.Error.WriteLine($"error: {why}; stopping so that one coordinator writes to the store");
        Environment.Exit(3);
    }

    public void Start(TextWriter output, CancellationToken cancellation)
    {
        PersistenceSettings persistence = PersistenceSettings.Resolve(mode.Database);
        DatabaseProbe.WaitFor(persistence, DatabaseWait, output);
        _lease = StoreLease.Acquire(persistence, StoreLease.ThisProcess("train"), output, LostStore);

        // a known port lets the node list itself as seed, so the cluster (and the registry singleton) is up at start
        int port = mode.ClusterPort == 0 ? FreePort() : mode.ClusterPort;
        // loopback, so TLS is optional; with CLUSTER_SECRETS set the worker processes (which inherit it) use TLS, so this node does too
        CnnCluster.Security.ClusterTrust? trust = CnnCluster.Security.ClusterTrust.FromEnvironment(CnnCluster.Security.NodeRole.Coordinator);
        var node = new NodeSettings("127.0.0.1", "127.0.0.1", port, [NodeSettings.ParseSeed($"127.0.0.1:{port}", trust is not null)]) { Trust = trust };
        string[] roles = mode.Workers > 0 ? [Roles.Coordinator, Roles.Worker] : [Roles.Coordinator];
        string data = Engine.Data.MnistFormat.Locate(dataDirectory);
        _host = NodeHost.Build(LogLevel.Warning, (akka, _) =>
        {
            akka.WithCnnClusterNode(node, roles)
                .WithRunPersistence(persistence)
                .WithCoordinator(new CoordinatorOptions(data, evaluationThreads, ResumeUnfinished: false));
            if (mode.Workers > 0)
            {
                // each with a loopback data plane for sharded runs (a star run reaches them by reference)
                akka.WithGradientWorkers(mode.Workers, mode.WorkerThreads, data, new DataPlaneSettings("127.0.0.1", "127.0.0.1", 0));
            }
        });
        _host.StartAsync(cancellation).GetAwaiter().GetResult();
        _system = _host.Services.GetRequiredService<ActorSystem>();
        Address self = WaitUntilUp(_system);
        output.WriteLine($"cluster: coordinator at {self} (workers join with CLUSTER_SEEDS={self.Host}:{self.Port}); runs in {persistence.Describe()}");

        _processes = new WorkerProcesses();
        Directory.CreateDirectory(logDirectory);
        for (int i = 0; i < mode.WorkerProcesses; i++)
        {
            _processes.Start($"{self.Host}:{self.Port}", mode.WorkerThreads, data, Path.Combine(logDirectory, $"worker-{i}.log"));
        }

        _registry = _host.Services.GetRequiredService<ActorRegistry>().Get<RunRegistry>();
        int expected = mode.Workers + mode.WorkerProcesses;
        int joined = new RegistryWait(_registry, StartLimits).ForWorkers(expected, persistence.Describe(), cancellation);
        if (joined < expected && !cancellation.IsCancellationRequested)
        {
            output.WriteLine($"cluster: {joined} of {expected} workers joined within {StartLimits.Workers.TotalSeconds:F0} s; the run starts with them and takes the others as they join");
        }
    }

    public RunConfig Describe(string runId) => _registry.Ask<object>(new DescribeRun(runId), AskTimeout).GetAwaiter().GetResult() switch
    {
        RunRegistered r => r.Config,
        RunRejected r => throw new RunRejectedException(r.Reason),
        var other => throw new InvalidOperationException($"unexpected answer {other}"),
    };

    public BackendResult Train(TrainRequest request, ModelSpec spec, RunData data, ITrainingObserver observer, TextWriter output, CancellationToken cancellation)
    {
        ActorSystem system = _system ?? throw new InvalidOperationException("not started");
        var completion = new TaskCompletionSource<RunFinished>(TaskCreationOptions.RunContinuationsAsynchronously);
        IActorRef listener = system.ActorOf(RunListener.Props(observer, line => output.WriteLine(line), completion), "train-listener");
        RunConfig config = RunConfig.From(spec, request.Model, request.Training, request.Limit, mode.SnapshotEvery, mode.KeepSnapshots, mode.Reduction) with { Verify = mode.Verify };
        object command = mode switch
        {
            { Resume: true } => new SubscribeRun(request.RunId),
            { ForkFrom: string source } => new ForkRun(source, mode.ForkSnapshot, request.RunId, config),
            _ => new SubmitRun(request.RunId, config),
        };
        _registry.Tell(command, listener);
        using (cancellation.Register(() => completion.TrySetCanceled()))
        {
            RunFinished finished = completion.Task.GetAwaiter().GetResult();
            var export = (ModelExport)_registry.Ask<object>(new ExportRun(request.RunId), AskTimeout).GetAwaiter().GetResult();
            return new BackendResult(finished.Steps, finished.ParamSha256, finished.ImagesPerSecond, mode.Workers + mode.WorkerProcesses, finished.Traffic, export.Parameters, finished.Traffic.PhaseMicroseconds);
        }
    }

    public void Dispose()
    {
        _processes?.Dispose();
        _host?.StopAsync(TimeSpan.FromSeconds(10)).GetAwaiter().GetResult();
        _host?.Dispose();
        _lease?.Dispose();
    }

    private static int FreePort()
    {
        using var socket = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        socket.Start();
        return ((System.Net.IPEndPoint)socket.LocalEndpoint).Port;
    }

    /// <summary>Waits until this node is an Up member of its one-node cluster.</summary>
    private static Address WaitUntilUp(ActorSystem system)
    {
        var cluster = Akka.Cluster.Cluster.Get(system);
        var up = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        cluster.RegisterOnMemberUp(() => up.TrySetResult());
        if (!up.Task.Wait(UpTimeout))
        {
            throw new TimeoutException($"the coordinator node did not come up within {UpTimeout.TotalSeconds}s");
        }

        return cluster.SelfAddress;
    }
}

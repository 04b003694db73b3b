using CnnCluster.Security;
using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Hosting;
using CnnCluster.Coordinator.Cluster;
using CnnCluster.Coordinator.Local;
using CnnCluster.Coordinator.Options;
using CnnCluster.Coordinator.Pbm;
using CnnCluster.Coordinator.Persistence;
using CnnCluster.Coordinator.Registry;
using CnnCluster.Coordinator.Web;
using CnnCluster.Shared.DataPlane;
using CnnCluster.Shared.Hosting;
using CnnCluster.Shared.Pbm;
using CnnCluster.Worker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace CnnCluster.Coordinator.Cli;

/// <summary>
/// `serve`: a coordinator node (the run registry singleton on role `coordinator`), configured by
/// CLUSTER_HOSTNAME, CLUSTER_BIND, CLUSTER_PORT (default 4053), CLUSTER_SEEDS (default: itself) and
/// CNN_DATA, persisting runs as PERSISTENCE_PROVIDER / PERSISTENCE_CONNECTION say (default SQLite
/// ./data/cnncluster.db) and resuming unfinished ones; with --workers N it also hosts N worker actors, so one process is a whole cluster.
/// Serves pbm on PBM_HOST:PBM_PORT (default 127.0.0.1:9110; see <see cref="PbmHostSettings"/> for the token and TLS);
/// a taken pbm port is one error line and exit 3. Serves health checks, /metrics and the dashboard on
/// HTTP_HOST:HTTP_PORT (default 127.0.0.1:9111, 0: none; see <see cref="HttpSettings"/>), a taken port likewise. Runs until SIGTERM / Ctrl+C, then leaves the cluster gracefully
/// (exit 0); a coordinator that the cluster downed exits 3, so that its restart policy brings it back.
/// </summary>
internal static class ServeCommand
{
    private static readonly RunOption Workers = new("workers", null, OptionKind.Whole, "worker actors in this process") { Default = "0", Min = 0, Max = 64, Example = "1" };
    private static readonly RunOption WorkerThreads = new("worker-threads", null, OptionKind.Whole, "threads of each in-process worker") { Min = 1, Max = 256, Example = "1" };
    private static readonly Option<string?> Data = new("--data") { Description = "directory of the IDX files (default $CNN_DATA, then the Debian package's)" };

    public static Command Create()
    {
        var command = new Command("serve", "run a coordinator node (configured by CLUSTER_* environment variables)");
        command.Options.Add(CommandLineOptions.Of(Workers));
        command.Options.Add(CommandLineOptions.Of(WorkerThreads));
        command.Options.Add(Data);
        command.SetAction(p => Serve(CommandLineOptions.Whole(p, Workers) ?? 0, CommandLineOptions.Whole(p, WorkerThreads), p.GetValue(Data)));
        return command;
    }

    /// <summary>RUN_PASSIVATE_SECONDS: how long an ended run's actor stays after its last query (default 30).</summary>
    private static TimeSpan PassivateAfter() =>
        TimeSpan.FromSeconds(double.TryParse(Environment.GetEnvironmentVariable("RUN_PASSIVATE_SECONDS"), System.Globalization.CultureInfo.InvariantCulture, out double s) && s > 0 ? s : 30);

    private static int Serve(int workers, int? workerThreads, string? data)
    {
        NodeSettings node = NodeSettings.FromEnvironment(NodeRole.Coordinator, defaultPort: 4053);
        PbmHostSettings pbm = PbmHostSettings.FromEnvironment(NodeRole.Coordinator);
        using TcpListener pbmListener = pbm.Listen(); // a taken port: one line and exit 3, before anything starts
        HttpSettings http = HttpSettings.FromEnvironment();
        if (http.Enabled)
        {
            http.CheckPort();
        }

        PersistenceSettings persistence = PersistenceSettings.Resolve(null);
        DatabaseProbe.WaitFor(persistence, ClusterBackend.DatabaseWait, Console.Error);
        using StoreLease lease = StoreLease.Acquire(persistence, StoreLease.ThisProcess("serve"), Console.Error, ClusterBackend.LostStore);
        string dataDirectory = Engine.Data.MnistFormat.Locate(data);
        int threads = workerThreads ?? Math.Max(1, Environment.ProcessorCount / Math.Max(1, workers));
        string[] roles = workers > 0 ? [Roles.Coordinator, Roles.Worker] : [Roles.Coordinator];
        HttpEndpoint? endpoint = http.Enabled ? new HttpEndpoint(http, new ClusterView(() => lease.Held)) : null;
        using IHost host = NodeHost.Build(LogLevel.Information, (akka, _) =>
        {
            akka.WithCnnClusterNode(node, roles)
                .WithRunPersistence(persistence)
                .WithCoordinator(new CoordinatorOptions(dataDirectory, Environment.ProcessorCount) { PassivateEndedAfter = PassivateAfter() })
                .WithPbmHost(pbm, pbmListener, (system, registry) =>
                {
                    var client = new RegistryClient(registry.Get<RunRegistry>());
                    return [new TrainPalette(system, client, dataDirectory: dataDirectory), new SnapshotPalette(client), new WorkerPalette(client)];
                });
            if (endpoint is not null)
            {
                // the HTTP endpoint asks the registry through the same singleton proxy as pbm's palettes
                akka.WithActors((system, registry) => endpoint.View.Attach(system, registry.Get<RunRegistry>()));
            }

            if (workers > 0)
            {
                // a data plane of their own, so that they can hold replicas of sharded runs too (DATA_PORT, default any free port)
                akka.WithGradientWorkers(workers, threads, dataDirectory, DataPlaneSettings.FromEnvironment(node));
            }
        }, endpoint);
        try
        {
            host.Start();
        }
        catch (IOException e) when (endpoint is not null)
        {
            // taken between CheckPort and Kestrel's bind
            throw http.TakenPort(e.Message);
        }

        ActorSystem system = host.Services.GetRequiredService<ActorSystem>();
        var cluster = Akka.Cluster.Cluster.Get(system);
        if (node.Seeds.Count == 0)
        {
            cluster.Join(cluster.SelfAddress);
        }

        if (node.Warning is string warning)
        {
            Console.Error.WriteLine(warning);
        }

        if (pbm.Warning is string pbmWarning)
        {
            Console.Error.WriteLine(pbmWarning);
        }

        if (http.Warning is string httpWarning)
        {
            Console.Error.WriteLine(httpWarning);
        }

        int pbmPort = ((IPEndPoint)pbmListener.LocalEndpoint).Port;
        Console.Out.WriteLine($"coordinator node {cluster.SelfAddress} (roles {string.Join(", ", roles)}); data {dataDirectory}; runs in {persistence.Describe()}; pbm on {pbm.Host}:{pbmPort}{(pbm.Trust is null ? string.Empty : " (TLS)")}; {(http.Enabled ? $"dashboard and /metrics on {http.Scheme}://{http.Host}:{http.Port}/" : "no HTTP endpoint (HTTP_PORT=0)")}");
        host.WaitForShutdown();
        if (CoordinatedShutdown.Get(system).ShutdownReason is CoordinatedShutdown.ClusterDowningReason)
        {
            // exit non-zero so that a restart policy (compose's on-failure) brings the coordinator back as a new member
            Console.Error.WriteLine($"error: this coordinator was downed (by the split-brain resolver, or `pbm cluster down --force` from another node) and left the cluster; its restart policy starts it again");
            return 3;
        }

        return 0;
    }
}

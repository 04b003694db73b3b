using CnnCluster.Security;
using System.Globalization;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Akka.Hosting;
using CnnCluster.Shared.DataPlane;
using CnnCluster.Shared.Hosting;
using CnnCluster.Shared.Pbm;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace CnnCluster.Worker;

/// <summary>
/// A worker node (role `worker`): joins the cluster at CLUSTER_SEEDS and computes gradients for any
/// run. Configured by CLUSTER_HOSTNAME, CLUSTER_BIND, CLUSTER_PORT (default 0: any free port),
/// CLUSTER_SEEDS, CNN_DATA, WORKER_THREADS (default: all cores), WORKER_ACTORS (default 1), DATA_PORT
/// (the data plane's port for parameters and gradients; default 0: any free one), and
/// PBM_HOST / PBM_PORT / PBM_TOKEN (or PBM_TOKEN_FILE, CLUSTER_SECRETS) for its pbm host (cluster palette; default port: any free one, kept across memberships).
/// SIGTERM leaves the cluster gracefully; a run reassigns the node's work.
/// A worker never ends because its cluster membership ended (the coordinator died and the split-brain
/// resolver downed this side, it was removed, or the coordinator left and <see cref="CoordinatorWatch"/> made
/// it leave too): it starts a new membership and keeps trying the seeds,
/// so a restarted coordinator finds its workers again without a person. Only SIGTERM or SIGINT end it (exit 0).
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        NodeSettings node;
        PbmHostSettings pbm;
        TcpListener pbmListener;
        int threads, actors;
        DataPlaneSettings dataPlane;
        try
        {
            NodeConfiguration.Load();
            node = NodeSettings.FromEnvironment(NodeRole.Worker, defaultPort: 0);
            if (node.Seeds.Count == 0)
            {
                throw new ArgumentException("CLUSTER_SEEDS is not set: give the coordinator's host:port (e.g. 127.0.0.1:4053)");
            }

            threads = PositiveFromEnvironment("WORKER_THREADS", Environment.ProcessorCount);

            // several workers share a machine: without PBM_PORT each takes a free port (logged)
            pbm = PbmHostSettings.FromEnvironment(NodeRole.Worker, defaultPort: 0);
            actors = PositiveFromEnvironment("WORKER_ACTORS", 1);
            dataPlane = DataPlaneSettings.FromEnvironment(node);

            // bound once: every membership serves pbm on the same port
            pbmListener = pbm.Listen();
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }

        using TcpListener pbmListenerOwned = pbmListener;
        foreach (string? warning in new[] { node.Warning, pbm.Warning })
        {
            if (warning is not null)
            {
                Console.Error.WriteLine(warning);
            }
        }

        string? data = Environment.GetEnvironmentVariable("CNN_DATA");
        bool signalled = false;
        using PosixSignalRegistration term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => signalled = true);
        using PosixSignalRegistration interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, _ => signalled = true);
        for (int membership = 1; ; membership++)
        {
            HostApplicationBuilder builder = Host.CreateApplicationBuilder(args);
            NodeLogFormat.Use(builder.Logging, toStandardError: false);
            builder.Logging.SetMinimumLevel(LogLevel.Information);
            builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
            builder.Services.AddAkka(NodeSettings.SystemName, (akka, _) =>
            {
                akka.WithCnnClusterNode(node, Roles.Worker)
                    .WithGradientWorkers(actors, threads, data, dataPlane)
                    .WithPbmHost(pbm, pbmListener)
                    .WithActors((system, _) => system.ActorOf(CoordinatorWatch.Props(), "coordinator-watch"));
            });

            using (IHost host = builder.Build())
            {
                // the host stops when its actor system terminates: by a signal, or because this node was downed
                await host.RunAsync();
            }

            if (signalled)
            {
                return 0;
            }

            Console.Error.WriteLine($"worker: cluster membership {membership} ended (the coordinator is gone or left, or this node was downed or removed); joining the seeds {string.Join(", ", node.Seeds)} again in {RejoinDelay.TotalSeconds:0} s");
            await Task.Delay(RejoinDelay);
            if (signalled)
            {
                return 0;
            }
        }
    }

    /// <summary>The pause before a new membership: the old one's ports are released, and a restarting coordinator gets a moment.</summary>
    private static readonly TimeSpan RejoinDelay = TimeSpan.FromSeconds(2);

    private static int PositiveFromEnvironment(string name, int fallback)
    {
        string? text = Environment.GetEnvironmentVariable(name);
        if (string.IsNullOrWhiteSpace(text))
        {
            return fallback;
        }

        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) || value < 1)
        {
            throw new ArgumentException($"{name} '{text}' is not a positive whole number");
        }

        return value;
    }
}

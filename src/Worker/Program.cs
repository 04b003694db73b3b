using System.Globalization;
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
/// PBM_HOST / PBM_PORT / PBM_TOKEN for its pbm host (cluster palette; default port: any free one).
/// SIGTERM leaves the cluster gracefully; a run reassigns the node's work.
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        NodeSettings node;
        PbmHostSettings pbm;
        int threads, actors;
        DataPlaneSettings dataPlane;
        try
        {
            node = NodeSettings.FromEnvironment(defaultPort: 0);
            if (node.Seeds.Count == 0)
            {
                throw new ArgumentException("CLUSTER_SEEDS is not set: give the coordinator's host:port (e.g. 127.0.0.1:4053)");
            }

            threads = PositiveFromEnvironment("WORKER_THREADS", Environment.ProcessorCount);

            // several workers share a machine: without PBM_PORT each takes a free port (logged)
            pbm = PbmHostSettings.FromEnvironment(defaultPort: 0);
            actors = PositiveFromEnvironment("WORKER_ACTORS", 1);
            dataPlane = DataPlaneSettings.FromEnvironment(node);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }

        string? data = Environment.GetEnvironmentVariable("CNN_DATA");
        HostApplicationBuilder builder = Host.CreateApplicationBuilder(args);
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Services.AddAkka(NodeSettings.SystemName, (akka, _) =>
        {
            akka.WithCnnClusterNode(node, Roles.Worker)
                .WithGradientWorkers(actors, threads, data, dataPlane)
                .WithPbmHost(pbm);
        });

        using IHost host = builder.Build();
        await host.RunAsync();
        return 0;
    }

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

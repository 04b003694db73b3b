using System.Globalization;
using CnnCluster.PbmProtocol;
using CnnCluster.Shared.Pbm;
using CnnCluster.Shared.Protocol;
using static CnnCluster.Shared.Pbm.Describe;

namespace CnnCluster.Coordinator.Pbm;

/// <summary>`worker list`: address, threads, nodes done and last step time of every worker.</summary>
public sealed class WorkerPalette(RegistryClient registry) : IPalette
{
    public PaletteInfo Info { get; } = new("worker", "the workers of the cluster", [Command("list", "address | threads | shards done | last step time")]);

    public async Task<int> ExecuteAsync(ParsedCommand c, ICommandOutput output, CancellationToken cancellation)
    {
        WorkerList list = await registry.Ask<WorkerList>(new ListWorkers(), cancellation);
        foreach (WorkerListEntry w in list.Workers)
        {
            string last = double.IsNaN(w.LastStepMilliseconds) ? "-" : w.LastStepMilliseconds.ToString("F1", CultureInfo.InvariantCulture) + " ms";
            output.Line($"{w.Address} | {w.Threads} threads | {(w.ShardsDone < 0 ? "-" : w.ShardsDone.ToString(CultureInfo.InvariantCulture))} shards done | last step {last}");
        }

        output.Line($"Count: {list.Workers.Length} workers");
        return 0;
    }
}

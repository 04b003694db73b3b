using System.Globalization;
using CnnCluster.PbmProtocol;
using CnnCluster.Shared.Pbm;
using CnnCluster.Shared.Protocol;
using static CnnCluster.Shared.Pbm.Describe;

namespace CnnCluster.Coordinator.Pbm;

/// <summary>`worker list`: address, threads, instruction set, nodes done and last step time of every worker; refused workers say why.</summary>
public sealed class WorkerPalette(RegistryClient registry) : IPalette
{
    public PaletteInfo Info { get; } = new("worker", "the workers of the cluster", [Command("list", "address | threads | instructions | shards done | last step time, or why it is refused", JsonOutput.Switch)]);

    private static readonly Table<WorkerListEntry> Workers = new("workers",
        new("Address", w => w.Address, w => w.Address),
        new("Threads", w => $"{w.Threads} threads", w => w.Threads),
        new("Instructions", w => w.Instructions.Length == 0 ? "-" : w.Instructions, w => w.Instructions),
        new("Shards done", w => w.Refused.Length > 0 ? $"refused: {w.Refused}" : $"{(w.ShardsDone < 0 ? "-" : w.ShardsDone.ToString(CultureInfo.InvariantCulture))} shards done", w => w.ShardsDone < 0 ? null : w.ShardsDone),
        new("Last step", w => w.Refused.Length > 0 ? "-" : $"last step {(double.IsNaN(w.LastStepMilliseconds) ? "-" : w.LastStepMilliseconds.ToString("F1", CultureInfo.InvariantCulture) + " ms")}", w => double.IsNaN(w.LastStepMilliseconds) ? null : w.LastStepMilliseconds),
        new("Refused", w => w.Refused.Length == 0 ? "-" : w.Refused, w => w.Refused.Length == 0 ? null : w.Refused));

    public async Task<int> ExecuteAsync(ParsedCommand c, ICommandOutput output, CancellationToken cancellation)
    {
        WorkerList list = await registry.Ask<WorkerList>(new ListWorkers(), cancellation);
        int refused = list.Workers.Count(w => w.Refused.Length > 0);
        Workers.Write(c, output, list.Workers, refused == 0 ? $"Count: {list.Workers.Length} workers" : $"Count: {list.Workers.Length - refused} workers, {refused} refused");
        return 0;
    }
}

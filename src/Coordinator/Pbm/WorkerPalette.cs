using System.Globalization;
using CnnCluster.PbmProtocol;
using CnnCluster.Shared.Pbm;
using CnnCluster.Shared.Protocol;
using static CnnCluster.Shared.Pbm.Describe;

namespace CnnCluster.Coordinator.Pbm;

/// <summary>`worker list`: address, threads, instruction set, nodes done and last step time of every worker; refused workers say why.</summary>
public sealed class WorkerPalette(RegistryClient registry) : IPalette
{
    public PaletteInfo Info { get; } = new("worker", "the workers of the cluster", [Command("list", "address | threads | instructions | shards done | last step time, or why it is refused")]);

    public async Task<int> ExecuteAsync(ParsedCommand c, ICommandOutput output, CancellationToken cancellation)
    {
        WorkerList list = await registry.Ask<WorkerList>(new ListWorkers(), cancellation);
        foreach (WorkerListEntry w in list.Workers)
        {
            string last = double.IsNaN(w.LastStepMilliseconds) ? "-" : w.LastStepMilliseconds.ToString("F1", CultureInfo.InvariantCulture) + " ms";
            string instructions = w.Instructions.Length == 0 ? "-" : w.Instructions;
            output.Line(w.Refused.Length > 0
                ? $"{w.Address} | {w.Threads} threads | {instructions} | refused: {w.Refused}"
                : $"{w.Address} | {w.Threads} threads | {instructions} | {(w.ShardsDone < 0 ? "-" : w.ShardsDone.ToString(CultureInfo.InvariantCulture))} shards done | last step {last}");
        }

        int refused = list.Workers.Count(w => w.Refused.Length > 0);
        output.Line(refused == 0 ? $"Count: {list.Workers.Length} workers" : $"Count: {list.Workers.Length - refused} workers, {refused} refused");
        return 0;
    }
}

using System.Globalization;
using CnnCluster.PbmProtocol;
using CnnCluster.Shared.Pbm;
using CnnCluster.Shared.Protocol;
using static CnnCluster.Shared.Pbm.Describe;

namespace CnnCluster.Coordinator.Pbm;

/// <summary>`snapshot list -r ID | restore -r ID -s SEQ`: a run's stored snapshots, and new runs forked from them.</summary>
public sealed class SnapshotPalette(RegistryClient registry) : IPalette
{
    public PaletteInfo Info { get; } = new("snapshot", "a run's stored snapshots",
    [
        Command("list", "sequence number, step, size, time and checksum of each stored snapshot", Switch("run", "r", "the run's id", mandatory: true), JsonOutput.Switch),
        Command("restore", "a new run forked from a snapshot, with the source's options; prints its id alone on the last line",
            Switch("run", "r", "the run's id", mandatory: true),
            Switch("sequence", "s", "the snapshot's sequence number (see snapshot list)", mandatory: true),
            Switch("run-id", null, "name of the new run")),
    ]);

    private static readonly Table<SnapshotRecorded> Snapshots = new("snapshots",
        new("Sequence", s => s.SequenceNr.ToString(CultureInfo.InvariantCulture), s => s.SequenceNr),
        new("Step", s => $"step {s.Step}", s => s.Step),
        new("Size", s => $"{s.Bytes:N0} bytes", s => s.Bytes),
        new("Time", s => s.Timestamp.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture), s => s.Timestamp),
        new("Checksum", s => s.Checksum[..Math.Min(16, s.Checksum.Length)], s => s.Checksum));

    public async Task<int> ExecuteAsync(ParsedCommand c, ICommandOutput output, CancellationToken cancellation)
    {
        string run = c.Required("run");
        if (c.Info.Name == "list")
        {
            SnapshotList list = await registry.Ask<SnapshotList>(new ListSnapshots(run), cancellation);
            Snapshots.Write(c, output, list.Snapshots);
            return 0;
        }

        long seq = c.Int("sequence", 1, int.MaxValue)!.Value;
        RunRegistered source = await registry.Ask<RunRegistered>(new DescribeRun(run), cancellation);
        RunAccepted accepted = await registry.Ask<RunAccepted>(new ForkRun(run, seq, c.String("run-id"), source.Config), cancellation);
        output.Line($"forked run {run} at snapshot {seq}");
        output.Line(accepted.RunId);
        return 0;
    }
}

using CnnCluster.Engine.Training;

namespace CnnCluster.Coordinator.Local;

/// <summary>What the `train` command was asked to do, after validation.</summary>
public sealed record TrainRequest(
    string Model,
    TrainingOptions Training,
    int? Limit,
    string? DataDirectory,
    string OutputDirectory,
    string RunId,
    ClusterMode? Cluster = null)
{
    /// <summary>Also write the trained model as ONNX (runs/&lt;id&gt;/model.onnx) beside model.cnnm.</summary>
    public bool ExportOnnx { get; init; }
}

/// <summary>
/// Train through the actor cluster instead of the engine alone: <see cref="Workers"/> worker actors in
/// this process and <see cref="WorkerProcesses"/> real worker processes joining over 127.0.0.1, each
/// with <see cref="WorkerThreads"/> threads; this node listens on 127.0.0.1:<see cref="ClusterPort"/>
/// (0: any free port) so more workers can join.
/// </summary>
public sealed record ClusterMode(int Workers, int WorkerProcesses, int WorkerThreads, int ClusterPort)
{
    /// <summary>SQLite file of the runs (null: PERSISTENCE_* or the default ./data/cnncluster.db).</summary>
    public string? Database { get; init; }

    /// <summary>Continue this existing run instead of starting one.</summary>
    public bool Resume { get; init; }

    /// <summary>Start from snapshot <see cref="ForkSnapshot"/> of this run.</summary>
    public string? ForkFrom { get; init; }

    public long ForkSnapshot { get; init; }

    public int SnapshotEvery { get; init; } = Shared.Protocol.RunConfig.DefaultSnapshotEvery;

    public int KeepSnapshots { get; init; } = Shared.Protocol.RunConfig.DefaultKeepSnapshots;

    /// <summary>How the run's gradients are summed (the star through this process, or sharded among worker processes).</summary>
    public Shared.Protocol.Reduction Reduction { get; init; } = Shared.Protocol.Reduction.Star;

    /// <summary>The fraction of nodes computed twice on different workers and compared bit for bit (--verify).</summary>
    public double Verify { get; init; }
}

using CnnCluster.Engine.Models;
using CnnCluster.Engine.Optim;
using CnnCluster.Engine.Training;
using MessagePack;

namespace CnnCluster.Shared.Protocol;

/// <summary>
/// Everything a run is a pure function of (DESIGN §4): the model spec, the data subset, the optimizer
/// and the order of the data. Travels with the run's events and with each work assignment's model.
/// </summary>
[MessagePackObject]
public sealed record RunConfig(
    [property: Key(0)] string Model,
    [property: Key(1)] string ModelJson,
    [property: Key(2)] int Epochs,
    [property: Key(3)] long? MaxSteps,
    [property: Key(4)] int BatchSize,
    [property: Key(5)] double LearningRate,
    [property: Key(6)] double Momentum,
    [property: Key(7)] bool Nesterov,
    [property: Key(8)] double WeightDecay,
    [property: Key(9)] string Schedule,
    [property: Key(10)] int WarmupSteps,
    [property: Key(11)] ulong Seed,
    [property: Key(12)] int ShardSize,
    [property: Key(13)] int? DataLimit,
    [property: Key(14)] int SnapshotEvery = RunConfig.DefaultSnapshotEvery,
    [property: Key(15)] int KeepSnapshots = RunConfig.DefaultKeepSnapshots,
    [property: Key(16)] Reduction Reduction = Reduction.Star,
    [property: Key(17)] double Verify = 0,
    [property: Key(18)] bool Augment = false) : IProtocolMessage
{
    /// <summary>
    /// Whether node <paramref name="start"/> of step <paramref name="step"/> is one of the fraction
    /// <see cref="Verify"/> computed twice on different workers (--verify): a fixed function of the seed,
    /// the step and the node, so a resumed run checks the same nodes.
    /// </summary>
    public bool Verifies(long step, int start)
    {
        if (Verify <= 0)
        {
            return false;
        }

        ulong h = (Seed ^ 0x9E3779B97F4A7C15UL) + ((ulong)step * 0xBF58476D1CE4E5B9UL) + ((ulong)start * 0x94D049BB133111EBUL);
        h = (h ^ (h >> 31)) * 0xD6E8FEB86659FD93UL;
        h ^= h >> 32;
        return (h >> 11) * (1.0 / (1UL << 53)) < Verify;
    }

    /// <summary>Steps between snapshots (besides each epoch's end); they never change a result.</summary>
    public const int DefaultSnapshotEvery = 200;

    /// <summary>How many of a run's newest snapshots are kept.</summary>
    public const int DefaultKeepSnapshots = 3;

    public TrainingOptions ToTrainingOptions(int threads) => new()
    {
        Epochs = Epochs,
        MaxSteps = MaxSteps,
        BatchSize = BatchSize,
        LearningRate = LearningRate,
        Sgd = new SgdOptions(Momentum, Nesterov, WeightDecay),
        Schedule = LearningRateSchedule.Parse(Schedule, WarmupSteps),
        Seed = Seed,
        ShardSize = ShardSize,
        Threads = threads,
        Augment = Augment,
    };

    public static RunConfig From(ModelSpec spec, string model, TrainingOptions o, int? dataLimit, int snapshotEvery = DefaultSnapshotEvery, int keepSnapshots = DefaultKeepSnapshots, Reduction reduction = Reduction.Star) => new(
        model,
        ModelSpecJson.Write(spec),
        o.Epochs,
        o.MaxSteps,
        o.BatchSize,
        o.LearningRate,
        o.Sgd.Momentum,
        o.Sgd.Nesterov,
        o.Sgd.WeightDecay,
        o.Schedule.Kind == "step" ? o.Schedule.ToString() : o.Schedule.Kind,
        o.Schedule.WarmupSteps,
        o.Seed,
        o.ShardSize,
        dataLimit,
        snapshotEvery,
        keepSnapshots,
        reduction,
        Augment: o.Augment);
}

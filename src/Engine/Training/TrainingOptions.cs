using CnnCluster.Engine.Optim;

namespace CnnCluster.Engine.Training;

/// <summary>Everything a run's parameters depend on besides the model and the data (DESIGN §4).</summary>
public sealed record TrainingOptions
{
    public int Epochs { get; init; } = 3;

    /// <summary>Stop after this many steps in total (null: run all epochs).</summary>
    public long? MaxSteps { get; init; }

    public int BatchSize { get; init; } = 64;

    public double LearningRate { get; init; } = 0.05;

    public SgdOptions Sgd { get; init; } = new();

    public LearningRateSchedule Schedule { get; init; } = LearningRateSchedule.Constant;

    public ulong Seed { get; init; } = 1;

    public int ShardSize { get; init; } = 8;

    /// <summary>Random shifts and flips of the training images (<see cref="Data.Augmentation"/>); never at evaluation.</summary>
    public bool Augment { get; init; }

    /// <summary>Threads used inside this process; never changes the result.</summary>
    public int Threads { get; init; } = 1;

    public int StepsPerEpoch(int samples) => (samples + BatchSize - 1) / BatchSize;

    public long TotalSteps(int samples)
    {
        long all = (long)Epochs * StepsPerEpoch(samples);
        return MaxSteps is long cap ? Math.Min(cap, all) : all;
    }
}

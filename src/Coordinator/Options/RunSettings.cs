using System.Globalization;
using CnnCluster.Engine.Optim;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Options;

/// <summary>A run's settings as given to either front end, each read and checked by its <see cref="RunOption"/>.</summary>
public sealed record RunSettings(
    string Model,
    int Epochs,
    long? Steps,
    int BatchSize,
    double LearningRate,
    double Momentum,
    bool Nesterov,
    double WeightDecay,
    string Schedule,
    int WarmupSteps,
    ulong Seed,
    int ShardSize,
    int? Limit,
    string? RunId,
    int SnapshotEvery,
    int KeepSnapshots,
    Reduction? Reduce,
    double Verify,
    bool Augment = false)
{
    /// <summary>
    /// Reads every option from <paramref name="given"/> (its text, or null when absent: the model's recipe
    /// applies, else the table's default, <see cref="ModelRecipes"/>); throws <see cref="ArgumentException"/>
    /// with the first problem, in words.
    /// </summary>
    public static RunSettings From(Func<RunOption, string?> given)
    {
        string model = given(RunOptions.Model) ?? RunOptions.Model.Default!;
        string? Text(RunOption o)
        {
            string? text = given(o) ?? ModelRecipes.Default(model, o) ?? o.Default;
            if (text is not null && o.Problem(text) is string problem)
            {
                throw new ArgumentException(problem);
            }

            return text;
        }

        long? Whole(RunOption o) => Text(o) is string t ? long.Parse(t, CultureInfo.InvariantCulture) : null;
        double Number(RunOption o) => double.Parse(Text(o)!, CultureInfo.InvariantCulture);

        return new RunSettings(
            Text(RunOptions.Model)!,
            (int)Whole(RunOptions.Epochs)!,
            Whole(RunOptions.Steps),
            (int)Whole(RunOptions.BatchSize)!,
            Number(RunOptions.LearningRate),
            Number(RunOptions.Momentum),
            Text(RunOptions.Nesterov) == "true",
            Number(RunOptions.WeightDecay),
            Text(RunOptions.Schedule)!,
            (int)Whole(RunOptions.WarmupSteps)!,
            (ulong)Whole(RunOptions.Seed)!,
            (int)Whole(RunOptions.ShardSize)!,
            (int?)Whole(RunOptions.Limit),
            Text(RunOptions.RunId),
            (int)Whole(RunOptions.SnapshotEvery)!,
            (int)Whole(RunOptions.KeepSnapshots)!,
            Text(RunOptions.Reduce) switch { "star" => Shared.Protocol.Reduction.Star, "sharded" => Shared.Protocol.Reduction.Sharded, _ => null },
            Number(RunOptions.Verify),
            Text(RunOptions.Augment) == "true");
    }

    public TrainingOptions Training(int threads) => new()
    {
        Epochs = Epochs,
        MaxSteps = Steps,
        BatchSize = BatchSize,
        LearningRate = LearningRate,
        Sgd = new SgdOptions(Momentum, Nesterov, WeightDecay),
        Schedule = LearningRateSchedule.Parse(Schedule, WarmupSteps),
        Seed = Seed,
        ShardSize = ShardSize,
        Threads = threads,
        Augment = Augment,
    };

    /// <summary>
    /// How the gradients are summed: as asked, else the star when workers live in the coordinator's process
    /// (it reaches them by reference) or results are verified (the star compares whole results; a sharded run
    /// verifies too when asked, by digests, DESIGN §5), else sharded.
    /// </summary>
    public Reduction Reduction(bool inProcessWorkers) => (Reduce, Verify > 0) switch
    {
        ({ } asked, _) => asked,
        (null, true) => Shared.Protocol.Reduction.Star,
        _ => inProcessWorkers ? Shared.Protocol.Reduction.Star : Shared.Protocol.Reduction.Sharded,
    };

    /// <summary>The run's configuration for the cluster, with <paramref name="spec"/> resolved from <see cref="Model"/>.</summary>
    public RunConfig ToRunConfig(Engine.Models.ModelSpec spec, bool inProcessWorkers) =>
        RunConfig.From(spec, Model, Training(threads: 1), Limit, SnapshotEvery, KeepSnapshots, Reduction(inProcessWorkers)) with { Verify = Verify };
}

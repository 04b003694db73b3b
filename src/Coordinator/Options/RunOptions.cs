using CnnCluster.Coordinator.Cluster;
using CnnCluster.Engine.Optim;
using CnnCluster.Shared.Naming;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Options;

/// <summary>
/// The one table of a run's settings (name, alias, default, range, help). `train` (Cli/TrainCommand) and
/// `pbm train submit` (Pbm/TrainPalette) are generated from it, and the run registry checks the same
/// ranges (<see cref="RunConfigRules"/>), so the two front ends cannot drift apart.
/// </summary>
public static class RunOptions
{
    public static readonly RunOption Model = new("model", "m", OptionKind.Text, "lenet5, bouvrie, convnet (trains with its own recipe unless told otherwise: --epochs 24 --augment), or a JSON model spec (train: a file; pbm: a file in the coordinator's models folder, MODELS_DIR)") { Default = "lenet5", Example = "bouvrie" };
    public static readonly RunOption Epochs = new("epochs", "e", OptionKind.Whole, "passes over the training set") { Default = "3", Min = 1, Max = RunConfigRules.MaxEpochs, Example = "2" };
    public static readonly RunOption Steps = new("steps", null, OptionKind.Whole, "stop after this many steps (overrides --epochs when smaller)") { Min = 1, Max = long.MaxValue, Example = "40" };
    public static readonly RunOption BatchSize = new("batch-size", "b", OptionKind.Whole, "minibatch size B") { Default = "64", Min = 1, Max = RunConfigRules.MaxBatchSize, Example = "32" };
    public static readonly RunOption LearningRate = new("lr", "l", OptionKind.Number, "base learning rate") { Default = "0.03", Min = 0, MinExclusive = true, Max = 10, Example = "0.01" };
    public static readonly RunOption Momentum = new("momentum", null, OptionKind.Number, "SGD momentum") { Default = "0.9", Min = 0, Max = 1, MaxExclusive = true, Example = "0.5" };
    public static readonly RunOption Nesterov = new("nesterov", null, OptionKind.Flag, "Nesterov momentum") { Example = "true" };
    public static readonly RunOption WeightDecay = new("weight-decay", null, OptionKind.Number, "L2 weight decay") { Default = "0.0005", Min = 0, Max = 1, MaxExclusive = true, Example = "0.001" };
    public static readonly RunOption Schedule = new("schedule", null, OptionKind.Text, "learning-rate schedule: constant, cosine, step:EPOCHS:GAMMA") { Default = "cosine", Rule = ScheduleProblem, Example = "step:1:0.5" };
    public static readonly RunOption WarmupSteps = new("warmup-steps", null, OptionKind.Whole, "linear learning-rate warm-up steps") { Default = "100", Min = 0, Max = int.MaxValue, Example = "10" };
    public static readonly RunOption Seed = new("seed", null, OptionKind.Whole, "seed of initialization and data order") { Default = "1", Min = 0, Max = long.MaxValue, Example = "7" };
    public static readonly RunOption ShardSize = new("shard-size", null, OptionKind.Whole, "samples per micro-shard S") { Default = "8", Min = 1, Max = RunConfigRules.MaxShardSize, Example = "4" };
    public static readonly RunOption Augment = new("augment", null, OptionKind.Flag, "augment the training images: half of them, drawn from (seed, epoch, sample), shifted by up to 2 pixels and flipped half the time") { Example = "true" };
    public static readonly RunOption Limit = new("limit", null, OptionKind.Whole, "use only the first N training and test images") { Min = 1, Max = int.MaxValue, Example = "256" };
    public static readonly RunOption RunId = new("run-id", null, OptionKind.Text, "name of the run (default: model-time-random)") { Rule = id => RunIds.IsValid(id) ? null : RunIds.Rule, Example = "mine-1" };
    public static readonly RunOption SnapshotEvery = new("snapshot-every", null, OptionKind.Whole, "steps between snapshots, besides each epoch's end") { Default = RunConfig.DefaultSnapshotEvery.ToString(System.Globalization.CultureInfo.InvariantCulture), Min = 1, Max = int.MaxValue, Example = "50" };
    public static readonly RunOption KeepSnapshots = new("keep-snapshots", null, OptionKind.Whole, "how many of the newest snapshots a run keeps") { Default = RunConfig.DefaultKeepSnapshots.ToString(System.Globalization.CultureInfo.InvariantCulture), Min = 1, Max = RunConfigRules.MaxKeepSnapshots, Example = "5" };
    public static readonly RunOption Reduce = new("reduce", null, OptionKind.Text, "how gradients are summed: sharded (an exact all-reduce among the workers; the default without in-process workers) or star (through the coordinator; the default with in-process workers or --verify)") { Choices = ["star", "sharded"], Example = "star" };
    public static readonly RunOption Verify = new("verify", null, OptionKind.Number, "fraction of tree nodes computed twice on different workers and compared bit for bit, a disagreement settled by a third; with --reduce sharded each slice's sum is also checked by a second worker on those steps (the star is the default with --verify)") { Default = "0", Min = 0, Max = 1, Example = "0.25" };

    /// <summary>Every run option, in the order help lists them.</summary>
    public static IReadOnlyList<RunOption> All { get; } =
        [Model, Epochs, Steps, BatchSize, LearningRate, Momentum, Nesterov, WeightDecay, Schedule, WarmupSteps, Seed, ShardSize, Augment, Limit, RunId, SnapshotEvery, KeepSnapshots, Reduce, Verify];

    private static string? ScheduleProblem(string text)
    {
        try
        {
            LearningRateSchedule.Parse(text);
            return null;
        }
        catch (FormatException e)
        {
            return e.Message;
        }
    }
}

using CnnCluster.Security;
using System.Globalization;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Cluster;

/// <summary>
/// The ranges every <see cref="RunConfig"/> must keep, checked in one place by the run registry whichever
/// way a run arrives (the `train` command line, pbm, a fork, or a message straight over remoting from
/// some member of the cluster): the command lines check the same ranges to give their own messages, but the
/// registry trusts none of them. A config that passes cannot divide by zero, overflow a step count or
/// allocate without bound in the run actor (the model's size is checked by ModelBudget when it is built).
/// </summary>
public static class RunConfigRules
{
    public const int MaxModelJsonChars = 1 << 20;
    public const int MaxEpochs = 100_000;
    public const int MaxBatchSize = 65_536;
    public const int MaxShardSize = 4096;
    public const int MaxKeepSnapshots = 1000;
    public const int MaxNameChars = 128;

    /// <summary>What is wrong with <paramref name="c"/>, in one line naming the field and its range, or null.</summary>
    public static string? Problem(RunConfig c) =>
        c.Model is null || c.Model.Length is 0 or > MaxNameChars ? $"the model's name must have 1 to {MaxNameChars} characters"
        : !TerminalText.IsPlain(c.Model) ? $"the model's name '{TerminalText.Safe(c.Model)}' holds control characters"
        : c.ModelJson is null || c.ModelJson.Length is 0 or > MaxModelJsonChars ? $"the model spec must have 1 to {MaxModelJsonChars:N0} characters (it has {c.ModelJson?.Length ?? 0:N0})"
        : c.Schedule is null || c.Schedule.Length is 0 or > MaxNameChars ? $"the schedule must have 1 to {MaxNameChars} characters"
        : Outside("epochs", c.Epochs, 1, MaxEpochs)
        ?? (c.MaxSteps is long steps && steps < 1 ? $"steps {steps} is out of range: at least 1" : null)
        ?? Outside("batch size", c.BatchSize, 1, MaxBatchSize)
        ?? Outside("shard size", c.ShardSize, 1, MaxShardSize)
        ?? (c.DataLimit is int limit && limit < 1 ? $"limit {limit} is out of range: at least 1" : null)
        ?? Outside("snapshot every", c.SnapshotEvery, 1, int.MaxValue)
        ?? Outside("keep snapshots", c.KeepSnapshots, 1, MaxKeepSnapshots)
        ?? Outside("warmup steps", c.WarmupSteps, 0, int.MaxValue)
        ?? Between("learning rate", c.LearningRate, 0, 10, minExclusive: true)
        ?? Between("momentum", c.Momentum, 0, 1, maxExclusive: true)
        ?? Between("weight decay", c.WeightDecay, 0, 1, maxExclusive: true)
        ?? Between("verify", c.Verify, 0, 1)
        ?? (!Enum.IsDefined(c.Reduction) ? $"reduction {(int)c.Reduction} is not one of {string.Join(", ", Enum.GetNames<Reduction>())}" : null);

    private static string? Outside(string name, long value, long min, long max) =>
        value < min || value > max ? $"{name} {value} is out of range: {min} to {max.ToString("N0", CultureInfo.InvariantCulture)}" : null;

    private static string? Between(string name, double value, double min, double max, bool minExclusive = false, bool maxExclusive = false) =>
        !double.IsFinite(value) || (minExclusive ? value <= min : value < min) || (maxExclusive ? value >= max : value > max)
            ? $"{name} {value.ToString(CultureInfo.InvariantCulture)} is out of range: {(minExclusive ? "(" : "[")}{min.ToString(CultureInfo.InvariantCulture)}, {max.ToString(CultureInfo.InvariantCulture)}{(maxExclusive ? ")" : "]")}"
            : null;
}

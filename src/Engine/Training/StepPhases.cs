using System.Diagnostics;

namespace CnnCluster.Engine.Training;

/// <summary>
/// Where a step's time goes, from the side that drives the step (the trainer, or the coordinator's run).
/// Critical-path phases end with <see cref="Optimizer"/>; the ones after it run while the next step
/// computes, or asynchronously (the journal write is the latency until the store confirms).
/// </summary>
public enum StepPhase
{
    /// <summary>The assignment: batch, plan, parameter copy, one message per worker (not the encoding).</summary>
    Assign,

    /// <summary>Encoding the assignments that leave this process.</summary>
    Serialize,

    /// <summary>Last result in minus assignment out, less the worker's compute: wire, decoding, queues, thread hops.</summary>
    Transfer,

    /// <summary>The gradient computation (on a worker: the slowest node of the step, as it measured it).</summary>
    Compute,

    /// <summary>Completing the reduction tree from the nodes' gradients.</summary>
    Reduce,

    /// <summary>Divide by B, penalties, the SGD update.</summary>
    Optimizer,

    /// <summary>SHA-256 of the new parameters.</summary>
    Hash,

    /// <summary>From the step's journal write to the store's confirmation.</summary>
    Journal,

    /// <summary>Taking a snapshot (the copy and the hand-off to the store), per step that takes one.</summary>
    Snapshot,

    /// <summary>One step start to the next: the figure every other phase is part of.</summary>
    Step,
}

/// <summary>
/// The newest <see cref="Window"/> samples of each <see cref="StepPhase"/> in microseconds (a ring per
/// phase, allocated once, so a run of any length records in bounded memory and allocates nothing per
/// step), their medians, and the mean of all steps. Single-threaded like its owner. An
/// <paramref name="observer"/> also hears of every sample (the coordinator's metrics, which the engine does not know).
/// </summary>
public sealed class StepPhaseLog(Action<StepPhase, double>? observer = null)
{
    public const int Window = 4096;

    private static readonly int PhaseCount = Enum.GetValues<StepPhase>().Length;
    private readonly double[][] _rings = Enumerable.Range(0, PhaseCount).Select(_ => new double[Window]).ToArray();
    private readonly long[] _counts = new long[PhaseCount];
    private readonly double[] _sums = new double[PhaseCount];

    public void Add(StepPhase phase, double microseconds)
    {
        int p = (int)phase;
        _rings[p][_counts[p]++ % Window] = microseconds;
        _sums[p] += microseconds;
        observer?.Invoke(phase, microseconds);
    }

    public void Add(StepPhase phase, TimeSpan elapsed) => Add(phase, elapsed.TotalMicroseconds);

    /// <summary>Records the time since <paramref name="startTimestamp"/> (a <see cref="Stopwatch.GetTimestamp"/>) and returns now.</summary>
    public long AddSince(StepPhase phase, long startTimestamp)
    {
        long now = Stopwatch.GetTimestamp();
        Add(phase, Stopwatch.GetElapsedTime(startTimestamp, now));
        return now;
    }

    /// <summary>The median of each phase in microseconds, indexed by <see cref="StepPhase"/>; NaN for a phase with no sample.</summary>
    public double[] Medians() => Enumerable.Range(0, PhaseCount).Select(p => Percentile((StepPhase)p, 0.5)).ToArray();

    /// <summary>
    /// The <paramref name="fraction"/> quantile (0.5: the median, interpolated between the two middle samples) of a
    /// phase's newest samples in microseconds; NaN with no sample.
    /// </summary>
    public double Percentile(StepPhase phase, double fraction)
    {
        int p = (int)phase;
        if (_counts[p] == 0)
        {
            return double.NaN;
        }

        double[] sorted = _rings[p][..(int)Math.Min(_counts[p], Window)];
        Array.Sort(sorted);
        double at = fraction * (sorted.Length - 1);
        int below = (int)Math.Floor(at);
        return below + 1 < sorted.Length ? sorted[below] + ((at - below) * (sorted[below + 1] - sorted[below])) : sorted[below];
    }

    /// <summary>The mean step of the whole run in microseconds (NaN before the first): against the median, it shows the outliers.</summary>
    public double MeanStep => _counts[(int)StepPhase.Step] > 0 ? _sums[(int)StepPhase.Step] / _counts[(int)StepPhase.Step] : double.NaN;

    /// <summary>
    /// What a run reports: the median of every phase (in <see cref="StepPhase"/> order), then the mean step and the
    /// step's 90th and 99th percentiles (where the mean's excess over the median comes from).
    /// </summary>
    public double[] Figures() => [.. Medians(), MeanStep, Percentile(StepPhase.Step, 0.9), Percentile(StepPhase.Step, 0.99)];

    /// <summary>The names of <see cref="Figures"/> as printed: each phase in lower case, then "step_mean", "step_p90", "step_p99".</summary>
    public static IReadOnlyList<string> FigureNames { get; } = [.. Enum.GetNames<StepPhase>().Select(n => n.ToLowerInvariant()), "step_mean", "step_p90", "step_p99"];
}

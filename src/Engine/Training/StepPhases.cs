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
/// Samples of each <see cref="StepPhase"/> in microseconds and their medians. Preallocated for the run's
/// steps, so recording allocates nothing; single-threaded like its owner.
/// </summary>
public sealed class StepPhaseLog
{
    private static readonly int PhaseCount = Enum.GetValues<StepPhase>().Length;
    private readonly List<double>[] _samples;

    public StepPhaseLog(long expectedSteps = 1024)
    {
        int capacity = (int)Math.Clamp(expectedSteps, 16, 1 << 20);
        _samples = Enumerable.Range(0, PhaseCount).Select(_ => new List<double>(capacity)).ToArray();
    }

    public void Add(StepPhase phase, double microseconds) => _samples[(int)phase].Add(microseconds);

    public void Add(StepPhase phase, TimeSpan elapsed) => Add(phase, elapsed.TotalMicroseconds);

    /// <summary>Records the time since <paramref name="startTimestamp"/> (a <see cref="Stopwatch.GetTimestamp"/>) and returns now.</summary>
    public long AddSince(StepPhase phase, long startTimestamp)
    {
        long now = Stopwatch.GetTimestamp();
        Add(phase, Stopwatch.GetElapsedTime(startTimestamp, now));
        return now;
    }

    public int Count(StepPhase phase) => _samples[(int)phase].Count;

    /// <summary>The median of each phase in microseconds, indexed by <see cref="StepPhase"/>; NaN for a phase with no sample.</summary>
    public double[] Medians()
    {
        var medians = new double[PhaseCount];
        for (int p = 0; p < PhaseCount; p++)
        {
            List<double> s = _samples[p];
            if (s.Count == 0)
            {
                medians[p] = double.NaN;
                continue;
            }

            double[] sorted = s.ToArray();
            Array.Sort(sorted);
            int mid = sorted.Length / 2;
            medians[p] = sorted.Length % 2 == 1 ? sorted[mid] : 0.5 * (sorted[mid - 1] + sorted[mid]);
        }

        return medians;
    }

    /// <summary>The mean microseconds of <paramref name="phase"/> (NaN with no sample): against the median, it shows the outliers.</summary>
    public double Mean(StepPhase phase) => _samples[(int)phase] is { Count: > 0 } s ? s.Average() : double.NaN;

    /// <summary>What a run reports: the median of every phase (in <see cref="StepPhase"/> order), then the mean step.</summary>
    public double[] Figures() => [.. Medians(), Mean(StepPhase.Step)];

    /// <summary>The names of <see cref="Figures"/> as printed: each phase in lower case, then "step_mean".</summary>
    public static IReadOnlyList<string> FigureNames { get; } = [.. Enum.GetNames<StepPhase>().Select(n => n.ToLowerInvariant()), "step_mean"];
}

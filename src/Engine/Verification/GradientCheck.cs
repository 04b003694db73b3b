namespace CnnCluster.Engine.Verification;

/// <summary>Tolerances of a finite-difference check (Caffe's defaults, adapted to float32 forward passes).</summary>
public sealed record GradientCheckOptions
{
    /// <summary>Central-difference step h.</summary>
    public double Step { get; init; } = 1e-2;

    /// <summary>
    /// When set, an entry's step is smaller where its gradient is large: h = TargetChange / |analytic|,
    /// within [Step / 10, Step]. The objective still moves by about TargetChange (well above float32
    /// rounding), while a weight that moves every position crosses fewer ReLU and max-window kinks.
    /// </summary>
    public double? TargetChange { get; init; }

    /// <summary>Allowed |analytic − numeric| / max(|analytic|, |numeric|, Floor).</summary>
    public double RelativeTolerance { get; init; } = 2e-2;

    /// <summary>Gradients smaller than this are compared absolutely (float32 rounding dominates them).</summary>
    public double Floor { get; init; } = 2e-3;

    /// <summary>
    /// The kink band: when the estimates with steps h and h/2 disagree by more than this (relative), a
    /// non-differentiable point (ReLU at 0, a tie in a max window) lies within h of the value and the
    /// point is skipped rather than compared.
    /// </summary>
    public double KinkTolerance { get; init; } = 1e-2;
}

/// <summary>
/// What a check found: how many entries were compared, skipped as kinks, and the worst one; and the
/// median error, which a wrong term moves for most entries while a kink just outside the band moves one.
/// </summary>
public sealed record GradientCheckResult(int Checked, int Kinks, int Failed, double MaxError, int WorstIndex, double WorstAnalytic, double WorstNumeric, double MedianError)
{
    public bool Passed(GradientCheckOptions options) => MaxError <= options.RelativeTolerance;

    public override string ToString() =>
        $"checked {Checked}, kinks skipped {Kinks}, beyond tolerance {Failed}, max relative error {MaxError:G3} at [{WorstIndex}] (analytic {WorstAnalytic:G6}, numeric {WorstNumeric:G6}), median {MedianError:G3}";
}

/// <summary>
/// The one gradient-check utility: compares an analytic gradient with central differences of a scalar
/// objective, entry by entry, perturbing the given values in place (and restoring them).
/// </summary>
public static class GradientCheck
{
    /// <param name="values">The inputs or parameters the objective reads; perturbed in place.</param>
    /// <param name="analytic">∂objective/∂values as computed by the backward pass.</param>
    /// <param name="objective">The scalar (in double) at the current values.</param>
    /// <param name="indices">Which entries to check.</param>
    public static GradientCheckResult Run(float[] values, ReadOnlySpan<float> analytic, Func<double> objective, IEnumerable<int> indices, GradientCheckOptions? options = null)
    {
        options ??= new GradientCheckOptions();
        int checkedCount = 0, kinks = 0, failed = 0, worst = -1;
        double maxError = 0, worstA = 0, worstN = 0;
        var errors = new List<double>();
        foreach (int i in indices)
        {
            double a = analytic[i];
            double h = options.TargetChange is double change ? Math.Clamp(change / Math.Max(Math.Abs(a), 1e-30), options.Step / 10, options.Step) : options.Step;
            double wide = Central(values, i, h, objective);
            double narrow = Central(values, i, h / 2, objective);
            double scale = Math.Max(Math.Max(Math.Abs(wide), Math.Abs(narrow)), options.Floor);
            if (Math.Abs(wide - narrow) / scale > options.KinkTolerance)
            {
                kinks++;
                continue;
            }

            checkedCount++;
            // both steps estimate the same derivative; the analytic value must match one of them (a
            // kink just outside the kink band can still bend one estimate by a few percent)
            double error = Math.Min(Math.Abs(a - wide), Math.Abs(a - narrow)) / Math.Max(Math.Max(Math.Abs(a), Math.Abs(wide)), options.Floor);
            errors.Add(error);
            if (error > options.RelativeTolerance)
            {
                failed++;
            }

            if (error > maxError || worst < 0)
            {
                maxError = Math.Max(error, maxError);
                worst = i;
                worstA = a;
                worstN = wide;
            }
        }

        errors.Sort();
        double median = errors.Count == 0 ? 0 : errors[errors.Count / 2];
        return new GradientCheckResult(checkedCount, kinks, failed, maxError, worst, worstA, worstN, median);
    }

    /// <summary>Up to <paramref name="count"/> distinct indices in [0, length), spread over the range with a fixed seed.</summary>
    public static IEnumerable<int> Sample(int length, int count, ulong seed = 7)
    {
        if (length <= count)
        {
            return Enumerable.Range(0, length);
        }

        var rng = new Tensors.Rng(seed);
        int[] perm = rng.Permutation(length);
        return perm.Take(count).OrderBy(i => i);
    }

    private static double Central(float[] values, int i, double h, Func<double> objective)
    {
        float original = values[i];
        values[i] = (float)(original + h);
        double plus = objective();
        float up = values[i];
        values[i] = (float)(original - h);
        double minus = objective();
        float down = values[i];
        values[i] = original;

        // divide by the step that float32 actually took
        return (plus - minus) / ((double)up - down);
    }
}

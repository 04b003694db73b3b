using CnnCluster.Engine.Kernels;
namespace CnnCluster.Engine.Losses;

/// <summary>
/// The output head: turns the last layer's output (n, classes) and integer labels into a summed loss and
/// the delta ∂L/∂output. Losses are sums over samples; the trainer divides by the batch size once.
/// </summary>
public interface ILossHead
{
    string Name { get; }

    /// <summary>
    /// Returns Σ loss over the n samples and writes the delta into <paramref name="delta"/>; an empty
    /// delta span asks for the loss alone (evaluation).
    /// </summary>
    double Forward(int n, int classes, ReadOnlySpan<float> output, ReadOnlySpan<int> labels, Span<float> delta);
}

public static class LossHeads
{
    public static ILossHead Create(string name) => name switch
    {
        SoftmaxCrossEntropy.SpecName => new SoftmaxCrossEntropy(),
        MeanSquaredError.SpecName => new MeanSquaredError(),
        _ => throw new ArgumentException($"unknown loss '{name}'; valid: {SoftmaxCrossEntropy.SpecName}, {MeanSquaredError.SpecName}"),
    };

    /// <summary>Index of the largest output (first one on ties).</summary>
    public static int ArgMax(ReadOnlySpan<float> row)
    {
        int best = 0;
        for (int i = 1; i < row.Length; i++)
        {
            if (row[i] > row[best])
            {
                best = i;
            }
        }

        return best;
    }
}

/// <summary>a = softmax(z), L = −Σ log a[label]; the delta is the article's a − y.</summary>
public sealed class SoftmaxCrossEntropy : ILossHead
{
    public const string SpecName = "softmax_cross_entropy";

    public string Name => SpecName;

    public double Forward(int n, int classes, ReadOnlySpan<float> output, ReadOnlySpan<int> labels, Span<float> delta)
    {
        double loss = 0;
        Span<double> a = classes <= 256 ? stackalloc double[classes] : new double[classes];
        for (int s = 0; s < n; s++)
        {
            ReadOnlySpan<float> z = output.Slice(s * classes, classes);
            float max = float.NegativeInfinity;
            foreach (float v in z)
            {
                max = MathF.Max(max, v);
            }

            // in double, by the engine's own exp and log (the same bits on every CPU, not the C library's):
            // the loss is what gradient checks difference, and it costs 10 exps a sample
            double sum = 0;
            for (int i = 0; i < classes; i++)
            {
                a[i] = DoubleMath.Exp(z[i] - (double)max);
                sum += a[i];
            }

            // L = −log a[y] = log Σ exp(z − max) − (z[y] − max)
            loss += DoubleMath.Log(sum) - (z[labels[s]] - (double)max);
            if (delta.IsEmpty)
            {
                continue;
            }

            // δ = a − y
            Span<float> d = delta.Slice(s * classes, classes);
            for (int i = 0; i < classes; i++)
            {
                d[i] = (float)(a[i] / sum);
            }

            d[labels[s]] -= 1f;
        }

        return loss;
    }
}

/// <summary>L = ½ Σ (y − t)² against one-hot targets t; the delta is y − t.</summary>
public sealed class MeanSquaredError : ILossHead
{
    public const string SpecName = "mean_squared_error";

    public string Name => SpecName;

    public double Forward(int n, int classes, ReadOnlySpan<float> output, ReadOnlySpan<int> labels, Span<float> delta)
    {
        double loss = 0;
        for (int s = 0; s < n; s++)
        {
            for (int i = 0; i < classes; i++)
            {
                float diff = output[s * classes + i] - (i == labels[s] ? 1f : 0f);
                loss += 0.5 * diff * diff;
                if (!delta.IsEmpty)
                {
                    delta[s * classes + i] = diff;
                }
            }
        }

        return loss;
    }
}

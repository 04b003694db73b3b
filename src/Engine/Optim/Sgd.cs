using CnnCluster.Engine.Kernels;
using CnnCluster.Engine.Models;

namespace CnnCluster.Engine.Optim;

/// <summary>Hyperparameters of SGD; PyTorch's conventions (dampening 0).</summary>
public sealed record SgdOptions(double Momentum = 0.9, bool Nesterov = false, double WeightDecay = 0);

/// <summary>
/// Stochastic gradient descent with momentum (heavy-ball or Nesterov), L2 weight decay and per-layer
/// learning-rate multipliers, over the one flat parameter buffer:
///   g ← g + wd·p;  v ← μ·v + g;  p ← p − η·m_l·(nesterov ? g + μ·v : v)
/// </summary>
public sealed class Sgd
{
    private readonly (int Offset, int Count, float Multiplier)[] _groups;

    public Sgd(Network network, SgdOptions options)
    {
        Options = options;
        Velocity = new float[network.ParameterCount];
        _groups = network.Layers
            .Where(l => l.ParameterCount > 0)
            .Select(l => (l.ParameterOffset, l.ParameterCount, l.LearningRateMultiplier))
            .ToArray();
    }

    public SgdOptions Options { get; }

    /// <summary>The momentum buffer: optimizer state that snapshots carry.</summary>
    public float[] Velocity { get; }

    /// <summary>One update with the mean gradient <paramref name="gradient"/> (modified in place).</summary>
    public void Step(float[] parameters, float[] gradient, double learningRate) =>
        Step(parameters, gradient, learningRate, ParameterSlice.All(parameters.Length));

    /// <summary>
    /// The update of <paramref name="slice"/> alone, its mean gradient in <paramref name="gradient"/>
    /// (gradient[0] is parameter slice.Start; modified in place): every operation is elementwise, so the
    /// slices of a partition give the bits of one whole update.
    /// </summary>
    public void Step(float[] parameters, Span<float> gradient, double learningRate, ParameterSlice slice)
    {
        if (gradient.Length != slice.Count || slice.Start < 0 || slice.End > parameters.Length)
        {
            throw new ArgumentException($"a gradient of {gradient.Length} for parameters [{slice.Start}, {slice.End}) of {parameters.Length}");
        }

        float mu = (float)Options.Momentum, wd = (float)Options.WeightDecay;
        foreach ((int groupOffset, int groupCount, float multiplier) in _groups)
        {
            if (slice.Within(groupOffset, groupCount) is not (int offset, int count))
            {
                continue;
            }

            float lr = (float)(learningRate * multiplier);
            Span<float> p = parameters.AsSpan(offset, count), g = gradient.Slice(offset - slice.Start, count), v = Velocity.AsSpan(offset, count);
            Elementwise.MultiplyAdd(p, wd, g, g);          // g ← g + wd·p
            Elementwise.MultiplyAdd(v, mu, g, v);          // v ← μ·v + g
            if (Options.Nesterov)
            {
                Elementwise.MultiplyAdd(v, mu, g, g);      // g ← g + μ·v
                Elementwise.MultiplyAdd(g, -lr, p, p);     // p ← p − η·m_l·(g + μ·v)
            }
            else
            {
                Elementwise.MultiplyAdd(v, -lr, p, p);     // p ← p − η·m_l·v
            }
        }
    }
}

using CnnCluster.Engine.Layers;
using CnnCluster.Engine.Tensors;
using CnnCluster.Engine.Verification;

namespace CnnCluster.Engine.Tests;

/// <summary>
/// Checks one layer alone: objective L = Σ r ∘ layer(x) for a fixed random r, so ∂L/∂y = r; the layer's
/// Backward must then give ∂L/∂x and ∂L/∂p that match central differences. A stochastic layer draws its
/// noise once, for <paramref name="pass"/> (samples 0..n-1), and keeps it: the check runs with the mask fixed.
/// </summary>
internal sealed class LayerHarness
{
    private readonly Layer _layer;
    private readonly int _n;
    private readonly float[] _r;
    private readonly float[] _y;
    private readonly float[] _scratch;

    public LayerHarness(Layer layer, int n, ulong seed = 1, Func<Rng, float>? input = null, PassContext pass = default)
    {
        _layer = layer;
        _n = n;
        var rng = new Rng(seed);
        X = Fill(n * layer.Input.Size, () => input?.Invoke(rng) ?? (float)rng.NextGaussian());
        P = new float[layer.ParameterCount];
        layer.Initialize(P, Rng.For(seed, 99));

        // perturb every parameter a little so that β ≠ 1, b ≠ 0, c ≠ 0 are exercised too
        for (int i = 0; i < P.Length; i++)
        {
            P[i] += (float)(0.3 * rng.NextGaussian());
        }

        _r = Fill(n * layer.Output.Size, () => (float)rng.NextGaussian());
        _y = new float[n * layer.Output.Size];
        _scratch = new float[layer.ScratchSize(n)];
        layer.DrawNoise(n, pass, Enumerable.Range(0, n).ToArray(), _scratch);
    }

    public float[] X { get; }

    public float[] P { get; }

    public double Objective()
    {
        _layer.Forward(_n, X, _y, P, _scratch);
        double sum = 0;
        for (int i = 0; i < _y.Length; i++)
        {
            sum += (double)_r[i] * _y[i];
        }

        return sum;
    }

    public (float[] Dx, float[] G) Backward()
    {
        Objective();
        var dx = new float[X.Length];
        var g = new float[P.Length];
        _layer.Backward(_n, X, _y, _r, dx, P, g, _scratch);
        return (dx, g);
    }

    /// <summary>Checks ∂L/∂x and ∂L/∂p; returns both results for the assertion message.</summary>
    public (GradientCheckResult Input, GradientCheckResult Params) Check(GradientCheckOptions options, int samples = 400)
    {
        (float[] dx, float[] g) = Backward();
        GradientCheckResult input = GradientCheck.Run(X, dx, Objective, GradientCheck.Sample(X.Length, samples), options);
        GradientCheckResult param = GradientCheck.Run(P, g, Objective, GradientCheck.Sample(P.Length, samples), options);
        return (input, param);
    }

    private static float[] Fill(int length, Func<float> next)
    {
        var a = new float[length];
        for (int i = 0; i < length; i++)
        {
            a[i] = next();
        }

        return a;
    }
}

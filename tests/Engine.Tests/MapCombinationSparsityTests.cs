using CnnCluster.Engine.Layers;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Tensors;
using CnnCluster.Engine.Verification;
using Xunit;
using Xunit.Abstractions;

namespace CnnCluster.Engine.Tests;

/// <summary>
/// The map combination's penalties on α = softmax(c): the entropy penalty against central differences,
/// its value on a case worked by hand, that descending it makes α sparse where the article's L1 penalty
/// (a constant for a softmax) leaves α alone, and the per-epoch figure of how many α are below 0.05.
/// </summary>
public sealed class MapCombinationSparsityTests(ITestOutputHelper output)
{
    private static readonly GradientCheckOptions Options = new();

    [Theory]
    [InlineData(3, 2, 1.0)]
    [InlineData(8, 4, 1.0)]
    [InlineData(5, 3, 4.0)] // peaked: some α near 1e-4, where α log α bends most
    public void TheEntropyPenaltyGradientMatchesFiniteDifferences(int inMaps, int outMaps, double scale)
    {
        var layer = new MapCombination(new Shape3(inMaps, 6, 6), outMaps, 3, 0, sparsity: 0.5f, penalty: SparsityPenalty.Entropy);
        float[] p = Parameters(layer, seed: (ulong)(inMaps * 10 + outMaps), scale);
        var g = new float[p.Length];
        layer.Regularize(p, g);

        GradientCheckResult r = GradientCheck.Run(p, g, () => layer.Regularize(p, new float[p.Length]), Enumerable.Range(0, p.Length), Options);
        output.WriteLine($"{layer}: {r}");
        Assert.True(r.Passed(Options), r.ToString());
        Assert.True(r.Checked >= 0.9 * p.Length, $"too many kinks: {r}");

        // the gradient is all in c, and there it is not the L1 penalty's zero
        int cStart = p.Length - layer.AlphaCount - outMaps;
        Assert.All(g[..cStart], v => Assert.Equal(0f, v));
        Assert.All(g[(cStart + layer.AlphaCount)..], v => Assert.Equal(0f, v));
        Assert.True(g.Skip(cStart).Take(layer.AlphaCount).Max(MathF.Abs) > 1e-2f, "the entropy gradient on c vanished");
    }

    /// <summary>
    /// Two output maps of two inputs, λ = 0.5. Map 0: c = (0, ln 3), α = (1/4, 3/4),
    /// H = ln 4 − ¾ ln 3 = 0.562335, ∂Ω/∂c = −λ α (log α + H) = ±0.102995. Map 1: c = 0, α uniform,
    /// H = ln 2, gradient 0. Ω = λ (0.562335 + 0.693147) = 0.627741.
    /// </summary>
    [Fact]
    public void TheEntropyPenaltyOnAHandComputedCase()
    {
        var layer = new MapCombination(new Shape3(2, 3, 3), 2, 1, 0, sparsity: 0.5f, penalty: SparsityPenalty.Entropy);
        Assert.Equal(4 + 4 + 2, layer.ParameterCount); // k (2·2·1·1), c (2·2), b (2)
        var p = new float[layer.ParameterCount];
        p[5] = MathF.Log(3f); // c[0, 1]; c[0, 0] = c[1, ·] = 0

        var g = new float[p.Length];
        double penalty = layer.Regularize(p, g);

        double h0 = Math.Log(4) - 0.75 * Math.Log(3), h1 = Math.Log(2);
        Assert.Equal(0.562335, h0, 6);
        Assert.Equal(0.5 * (h0 + h1), penalty, 6);
        double d = -0.5 * 0.25 * (Math.Log(0.25) + h0);
        Assert.Equal(0.102995, d, 6);
        Assert.Equal([d, -d, 0, 0], g[4..8].Select(v => (double)v), new ToleranceComparer(1e-6));
    }

    [Fact]
    public void AnAlphaThatUnderflowsToZeroCountsAsZeroNotNaN()
    {
        var layer = new MapCombination(new Shape3(3, 3, 3), 1, 1, 0, sparsity: 1f, penalty: SparsityPenalty.Entropy);
        var p = new float[layer.ParameterCount];
        p[3] = 200f; // c = (200, 0, 0): α = (1, e⁻²⁰⁰, e⁻²⁰⁰), and e⁻²⁰⁰ is 0 in float
        Assert.Equal([1f, 0f, 0f], layer.AlphasOf(p));

        var g = new float[p.Length];
        double penalty = layer.Regularize(p, g);
        Assert.Equal(0, penalty);
        Assert.All(g, v => Assert.Equal(0f, v));
    }

    /// <summary>Σ|α| = 1 for a softmax whatever c is: the article's penalty is λ·out and moves nothing.</summary>
    [Theory]
    [InlineData(1.0)]
    [InlineData(4.0)]
    public void TheL1PenaltyIsStillConstant(double scale)
    {
        var layer = new MapCombination(new Shape3(8, 6, 6), 16, 3, 0, sparsity: 0.25f);
        Assert.Equal(SparsityPenalty.L1, layer.Penalty);
        for (ulong trial = 0; trial < 5; trial++)
        {
            float[] p = Parameters(layer, trial, scale);
            var g = new float[p.Length];
            double penalty = layer.Regularize(p, g);
            Assert.Equal(0.25 * 16, penalty, 5);
            Assert.All(g, v => Assert.True(MathF.Abs(v) < 1e-6f, $"L1 gradient {v}"));
        }
    }

    /// <summary>Gradient descent on the penalty alone: the entropy drives α to few inputs per map, L1 does not move it.</summary>
    [Fact]
    public void DescendingTheEntropyMakesAlphaSparseAndL1DoesNot()
    {
        (double Before, double After) Descend(SparsityPenalty penalty)
        {
            var layer = new MapCombination(new Shape3(8, 6, 6), 16, 3, 0, sparsity: 1f, penalty: penalty);
            float[] p = Parameters(layer, seed: 5, scale: 0.5);
            double before = (double)layer.CountSparse(p) / layer.AlphaCount;
            for (int step = 0; step < 300; step++)
            {
                var g = new float[p.Length];
                layer.Regularize(p, g);
                for (int i = 0; i < p.Length; i++)
                {
                    p[i] -= 0.5f * g[i];
                }
            }

            return (before, (double)layer.CountSparse(p) / layer.AlphaCount);
        }

        (double l1Before, double l1After) = Descend(SparsityPenalty.L1);
        (double entropyBefore, double entropyAfter) = Descend(SparsityPenalty.Entropy);
        output.WriteLine($"α < 0.05: L1 {l1Before:P1} → {l1After:P1}, entropy {entropyBefore:P1} → {entropyAfter:P1}");
        Assert.Equal(l1Before, l1After);
        Assert.True(entropyAfter >= 0.6, $"entropy: {entropyBefore:P1} → {entropyAfter:P1}");
        Assert.True(entropyAfter > entropyBefore + 0.3, $"entropy: {entropyBefore:P1} → {entropyAfter:P1}");
    }

    /// <summary>
    /// Two map combinations counted together: 4→3 (12 α) and 3→2 (6 α). Map 0 of the first has
    /// c = (10, 0, 0, 0), α = (0.99986, 4.5e-5 ×3): 3 below 0.05; map 1 is uniform (¼); map 2 has
    /// c = (0, 0, 0, 2.2), α = (0.0832 ×3, 0.7505): none. Map 0 of the second has c = (5, 0, 0),
    /// α = (0.9867, 0.0066 ×2): 2; map 1 is uniform (⅓). So 5 of 18.
    /// </summary>
    [Fact]
    public void TheSparseAlphaFractionCountsEveryMapCombinationsAlphaBelowTheThreshold()
    {
        Network net = Network.Build(ModelSpecJson.Parse("""
            { "input": [1, 8, 8], "classes": 10,
              "layers": [ { "type": "conv2d", "out": 4, "kernel": 3 }, { "type": "tanh" },
                          { "type": "mapcombination", "out": 3, "kernel": 1 },
                          { "type": "mapcombination", "out": 2, "kernel": 3, "sparsity": 0.1, "penalty": "entropy" },
                          { "type": "dense", "out": 10 } ] }
            """));
        MapCombination[] maps = [.. net.Layers.OfType<MapCombination>()];
        Assert.Equal([12, 6], maps.Select(m => m.AlphaCount));

        float[] p = net.InitialParameters(1);
        Assert.Equal(0.0, net.SparseAlphaFraction(p)); // c = 0: α = 1/in, above 0.05

        Span<float> C(MapCombination m) => p.AsSpan(m.ParameterOffset + m.ParameterCount - m.AlphaCount - m.Output.C, m.AlphaCount);
        C(maps[0])[0] = 10f;
        C(maps[0])[11] = 2.2f;
        C(maps[1])[0] = 5f;
        Assert.Equal(3, maps[0].CountSparse(p.AsSpan(maps[0].ParameterOffset, maps[0].ParameterCount)));
        Assert.Equal(2, maps[1].CountSparse(p.AsSpan(maps[1].ParameterOffset, maps[1].ParameterCount)));
        Assert.Equal(5.0 / 18, net.SparseAlphaFraction(p));

        Assert.Null(Network.Build(Presets.LeNet5).SparseAlphaFraction(new float[61_706]));
    }

    // the layer's initial parameters, then every one moved by scale · N(0, 1)
    private static float[] Parameters(Layer layer, ulong seed, double scale)
    {
        var p = new float[layer.ParameterCount];
        layer.Initialize(p, new Rng(seed));
        var rng = new Rng(seed + 100);
        for (int i = 0; i < p.Length; i++)
        {
            p[i] += (float)(scale * rng.NextGaussian());
        }

        return p;
    }

    private sealed class ToleranceComparer(double tolerance) : IEqualityComparer<double>
    {
        public bool Equals(double x, double y) => Math.Abs(x - y) <= tolerance;

        public int GetHashCode(double obj) => 0;
    }
}

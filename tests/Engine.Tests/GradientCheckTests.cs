using CnnCluster.Engine.Layers;
using CnnCluster.Engine.Tensors;
using CnnCluster.Engine.Verification;
using Xunit;
using Xunit.Abstractions;

namespace CnnCluster.Engine.Tests;

/// <summary>Every layer type against central differences, with strides, paddings and odd sizes.</summary>
public sealed class GradientCheckTests(ITestOutputHelper output)
{
    private static readonly GradientCheckOptions Options = new();

    [Theory]
    [InlineData(1, 8, 8, 3, 3, 1, 0)]
    [InlineData(2, 7, 9, 4, 3, 1, 1)]
    [InlineData(3, 9, 7, 2, 3, 2, 1)]
    [InlineData(2, 11, 10, 3, 5, 3, 2)]
    [InlineData(3, 6, 6, 5, 1, 1, 0)]
    [InlineData(1, 5, 5, 2, 5, 1, 2)]
    public void Conv2d(int c, int h, int w, int k, int kernel, int stride, int pad)
    {
        AssertLayer(new Conv2d(new Shape3(c, h, w), k, kernel, stride, pad), n: 2);
    }

    [Theory]
    [InlineData(SubsamplingMode.Mean, ActivationKind.None, 2, 8, 8)]
    [InlineData(SubsamplingMode.Sum, ActivationKind.None, 2, 7, 9)]
    [InlineData(SubsamplingMode.Mean, ActivationKind.Tanh, 3, 9, 10)]
    [InlineData(SubsamplingMode.Sum, ActivationKind.Sigmoid, 2, 6, 6)]
    public void Subsampling(SubsamplingMode mode, ActivationKind f, int size, int h, int w)
    {
        AssertLayer(new Subsampling(new Shape3(3, h, w), size, mode, f), n: 2);
    }

    [Theory]
    [InlineData(2, 8, 8)]
    [InlineData(3, 7, 11)]
    [InlineData(2, 5, 5)]
    public void MaxPool2d(int size, int h, int w)
    {
        AssertLayer(new MaxPool2d(new Shape3(2, h, w), size), n: 2);
    }

    [Theory]
    [InlineData(2, 8, 8)]
    [InlineData(3, 7, 11)]
    public void AvgPool2d(int size, int h, int w)
    {
        AssertLayer(new AvgPool2d(new Shape3(2, h, w), size), n: 2);
    }

    [Theory]
    [InlineData(3, 4, 3, 0, 0f)]
    [InlineData(4, 2, 5, 2, 0.01f)]
    [InlineData(2, 3, 3, 1, 0.5f)]
    public void MapCombination(int inMaps, int outMaps, int kernel, int pad, float sparsity)
    {
        AssertLayer(new MapCombination(new Shape3(inMaps, 7, 8), outMaps, kernel, pad, sparsity), n: 2);
    }

    [Fact]
    public void MapCombinationSparsityPenalty()
    {
        var layer = new MapCombination(new Shape3(3, 6, 6), 2, 3, 0, sparsity: 0.5f);
        var p = new float[layer.ParameterCount];
        layer.Initialize(p, new Rng(3));
        var rng = new Rng(4);
        for (int i = 0; i < p.Length; i++)
        {
            p[i] += (float)rng.NextGaussian();
        }

        var g = new float[p.Length];
        double penalty = layer.Regularize(p, g);

        // Σ|α| is 1 per output map for a softmax: Ω = λ · out, and Bouvrie's gradient vanishes
        Assert.Equal(0.5 * 2, penalty, 5);
        GradientCheckResult r = GradientCheck.Run(p, g, () => layer.Regularize(p, new float[p.Length]), Enumerable.Range(0, p.Length), Options);
        output.WriteLine(r.ToString());
        Assert.True(r.Passed(Options), r.ToString());
    }

    [Theory]
    [InlineData(1, 1, 1, 7)]
    [InlineData(3, 4, 5, 6)]
    [InlineData(2, 1, 1, 1)]
    public void Dense(int c, int h, int w, int outFeatures)
    {
        AssertLayer(new Dense(new Shape3(c, h, w), outFeatures), n: 3);
    }

    [Theory]
    [InlineData(ActivationKind.Sigmoid)]
    [InlineData(ActivationKind.Tanh)]
    [InlineData(ActivationKind.ReLU)]
    public void Activations(ActivationKind f)
    {
        AssertLayer(new ActivationLayer(new Shape3(2, 5, 7), f), n: 2);
    }

    [Fact]
    public void Flatten()
    {
        AssertLayer(new Flatten(new Shape3(2, 3, 5)), n: 2);
    }

    [Fact]
    public void TheCheckerRejectsAWrongGradient()
    {
        var harness = new LayerHarness(new Conv2d(new Shape3(2, 6, 6), 3, 3, 1, 1), 2);
        (float[] dx, float[] g) = harness.Backward();
        for (int i = 0; i < g.Length; i += 7)
        {
            g[i] *= 1.1f;
        }

        dx[5] += 0.5f;
        GradientCheckResult p = GradientCheck.Run(harness.P, g, harness.Objective, Enumerable.Range(0, g.Length), Options);
        GradientCheckResult x = GradientCheck.Run(harness.X, dx, harness.Objective, Enumerable.Range(0, dx.Length), Options);
        Assert.False(p.Passed(Options), p.ToString());
        Assert.False(x.Passed(Options), x.ToString());
    }

    private void AssertLayer(Layer layer, int n)
    {
        var harness = new LayerHarness(layer, n);
        (GradientCheckResult input, GradientCheckResult param) = harness.Check(Options);
        output.WriteLine($"{layer}: dx {input}");
        output.WriteLine($"{layer}: dp {param}");
        Assert.True(input.Passed(Options), $"{layer} dx: {input}");
        Assert.True(param.Passed(Options), $"{layer} dp: {param}");

        // the kink band may skip a few points, never most of them
        Assert.True(input.Checked >= 0.9 * (input.Checked + input.Kinks), $"{layer} dx: too many kinks: {input}");
        Assert.True(input.Checked > 0, $"{layer}: nothing was checked");
        if (layer.ParameterCount > 0)
        {
            Assert.True(param.Checked >= 0.9 * (param.Checked + param.Kinks), $"{layer} dp: too many kinks: {param}");
        }
    }
}

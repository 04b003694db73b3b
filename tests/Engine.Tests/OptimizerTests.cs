using CnnCluster.Engine.Models;
using CnnCluster.Engine.Optim;
using Xunit;

namespace CnnCluster.Engine.Tests;

public sealed class OptimizerTests
{
    private static readonly Network Tiny = Network.Build(ModelSpecJson.Parse("""
        { "input": [1, 1, 2], "classes": 2, "layers": [ { "type": "dense", "out": 2, "lr_mult": 0.5 } ] }
        """));

    [Fact]
    public void MomentumFollowsThePyTorchRule()
    {
        var sgd = new Sgd(Tiny, new SgdOptions(Momentum: 0.9, WeightDecay: 0.1));
        var p = new float[] { 1, 2, 3, 4, 5, 6 };
        var g = new float[] { 1, 1, 1, 1, 1, 1 };
        sgd.Step(p, (float[])g.Clone(), 0.2);
        sgd.Step(p, (float[])g.Clone(), 0.2);

        // lr_mult 0.5: η = 0.1. step 1: g' = 1 + 0.1·1 = 1.1, v = 1.1, p = 1 − 0.11 = 0.89
        // step 2: g' = 1 + 0.089 = 1.089, v = 0.99 + 1.089 = 2.079, p = 0.89 − 0.2079
        Assert.Equal(0.89f - 0.2079f, p[0], 5);
    }

    [Fact]
    public void NesterovLooksAhead()
    {
        var sgd = new Sgd(Tiny, new SgdOptions(Momentum: 0.5, Nesterov: true));
        var p = new float[6];
        sgd.Step(p, [2, 0, 0, 0, 0, 0], 2.0);

        // v = 2, update = g + μ·v = 3, η = 2·0.5
        Assert.Equal(-3f, p[0], 6);
    }

    [Theory]
    [InlineData("constant", 0, 1.0)]
    [InlineData("cosine", 0, 1.0)]
    [InlineData("cosine", 50, 0.5)]
    [InlineData("cosine", 100, 0.0)]
    [InlineData("step:2:0.1", 19, 1.0)]
    [InlineData("step:2:0.1", 20, 0.1)]
    [InlineData("step:2:0.1", 45, 0.01)]
    public void Schedules(string text, int step, double expected)
    {
        LearningRateSchedule s = LearningRateSchedule.Parse(text);
        Assert.Equal(expected, s.At(1.0, step, 100, 10), 6);
    }

    [Fact]
    public void WarmupRampsLinearly()
    {
        LearningRateSchedule s = LearningRateSchedule.Parse("constant", warmupSteps: 4);
        Assert.Equal(0.25, s.At(1.0, 0, 100, 10), 6);
        Assert.Equal(1.0, s.At(1.0, 3, 100, 10), 6);
        Assert.Equal(1.0, s.At(1.0, 50, 100, 10), 6);
    }

    [Theory]
    [InlineData("linear")]
    [InlineData("step:0:0.1")]
    [InlineData("step:2:3")]
    [InlineData("cosine:5")]
    public void BadSchedulesAreRefused(string text)
    {
        var e = Assert.Throws<FormatException>(() => LearningRateSchedule.Parse(text));
        Assert.Contains(text, e.Message);
    }
}

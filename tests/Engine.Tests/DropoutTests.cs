using CnnCluster.Engine.Layers;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Tensors;
using CnnCluster.Engine.Verification;
using Xunit;
using Xunit.Abstractions;

namespace CnnCluster.Engine.Tests;

/// <summary>
/// The dropout layer: its gradient with the mask fixed, forward and backward against the plain form on
/// guarded buffers, evaluation as the identity, and a mask fixed by (seed, step, sample, unit) alone.
/// </summary>
public sealed class DropoutTests(ITestOutputHelper output)
{
    private static readonly GradientCheckOptions Options = new();
    private static readonly PassContext Training = PassContext.ForTraining(seed: 5, step: 17, epoch: 0, augment: false);

    [Theory]
    [InlineData(0.25f, 3, 4, 5)]
    [InlineData(0.5f, 1, 1, 40)]
    [InlineData(0f, 2, 3, 3)]
    public void GradientWithTheMaskFixed(float p, int c, int h, int w)
    {
        var layer = new Dropout(new Shape3(c, h, w), p, index: 3);
        var harness = new LayerHarness(layer, n: 3, pass: Training);
        (GradientCheckResult input, GradientCheckResult param) = harness.Check(Options);
        output.WriteLine($"{layer}: dx {input}");
        Assert.True(input.Passed(Options), $"{layer} dx: {input}");
        Assert.True(input.Checked > 0 && input.Kinks == 0, $"{layer}: {input}");
        Assert.Equal(0, param.Checked);
    }

    [Fact]
    public void ForwardAndBackwardAreThePlainForm()
    {
        const float p = 0.25f;
        const int n = 4;
        var layer = new Dropout(new Shape3(2, 10, 10), p, index: 1);
        var rng = new Rng(11);
        float[] x = TestData.Gaussian(rng, n * layer.Input.Size), dy = TestData.Gaussian(rng, x.Length);
        GuardedBuffer gx = GuardedBuffer.Of(x), gdy = GuardedBuffer.Of(dy);
        GuardedBuffer y = GuardedBuffer.Poisoned(x.Length), dx = GuardedBuffer.Poisoned(x.Length), scratch = GuardedBuffer.Poisoned(layer.ScratchSize(n));
        layer.DrawNoise(n, Training, [40, 7, 123, 9], scratch.Span);
        layer.Forward(n, gx.Span, y.Span, [], scratch.Span);
        float[] forward = y.ToArray();
        layer.Backward(n, gx.Span, y.Span, gdy.Span, dx.Span, [], [], scratch.Span);
        GuardedRun.AssertGuards("dropout", [(y, "y"), (dx, "dx"), (scratch, "scratch")], [(gx, x, "x"), (gdy, dy, "dy")]);
        Assert.True(y.Span.SequenceEqual(forward), "backward wrote into y");

        // plain form: a unit is dropped (0) or kept and scaled by 1/(1 − p); backward drops and scales the same units
        float scale = (float)(1.0 / (1.0 - p));
        int dropped = 0;
        for (int i = 0; i < x.Length; i++)
        {
            bool kept = forward[i] != 0f;
            dropped += kept ? 0 : 1;
            Assert.Equal(kept ? x[i] * scale : 0f, forward[i]);
            Assert.Equal(kept ? dy[i] * scale : 0f, dx.Span[i]);
        }

        // 800 units: the dropped fraction is p within 5 standard deviations (±0.077)
        Assert.InRange((double)dropped / x.Length, p - 0.077, p + 0.077);
    }

    [Fact]
    public void EvaluationIsTheIdentity()
    {
        var layer = new Dropout(new Shape3(3, 4, 4), 0.5f, index: 0);
        const int n = 2;
        float[] x = TestData.Gaussian(new Rng(3), n * layer.Input.Size), dy = TestData.Gaussian(new Rng(4), x.Length);
        var scratch = new float[layer.ScratchSize(n)];
        var y = new float[x.Length];
        var dx = new float[x.Length];
        layer.DrawNoise(n, PassContext.Evaluation, [0, 1], scratch);
        layer.Forward(n, x, y, [], scratch);
        layer.Backward(n, x, y, dy, dx, [], [], scratch);
        Assert.Equal(x, y);
        Assert.Equal(dy, dx);
    }

    [Fact]
    public void TheMaskIsAFunctionOfSeedStepSampleAndUnit()
    {
        var layer = new Dropout(new Shape3(1, 1, 64), 0.5f, index: 2);
        float[] batch = Mask(layer, Training, [3, 8, 21]);

        // sample 8's row is the same wherever it sits in a shard and whoever draws it
        Assert.Equal(batch[64..128], Mask(layer, Training, [8]));
        Assert.Equal(batch[64..128], Mask(layer, Training, [21, 8])[64..128]);
        Assert.NotEqual(batch[..64], batch[64..128]);

        Assert.NotEqual(Mask(layer, Training, [8]), Mask(layer, Training with { Step = 18 }, [8]));
        Assert.NotEqual(Mask(layer, Training, [8]), Mask(layer, Training with { Seed = 6 }, [8]));
        Assert.NotEqual(Mask(layer, Training, [8]), Mask(new Dropout(layer.Input, 0.5f, index: 5), Training, [8]));
    }

    [Theory]
    [InlineData("{\"type\":\"dropout\"}", "'p' is required")]
    [InlineData("{\"type\":\"dropout\",\"p\":1}", "'p' must be in [0, 1), got 1")]
    [InlineData("{\"type\":\"dropout\",\"p\":-0.1}", "'p' must be in [0, 1), got -0.1")]
    [InlineData("{\"type\":\"dropout\",\"p\":0.2,\"size\":2}", "unknown field 'size'; valid fields: type, p")]
    public void ABadSpecIsOneClearLine(string layer, string expected)
    {
        string json = "{\"input\":[1,4,4],\"classes\":2,\"layers\":[{\"type\":\"flatten\"}," + layer + ",{\"type\":\"dense\",\"out\":2}]}";
        var e = Assert.Throws<ModelSpecException>(() => Network.Build(ModelSpecJson.Parse(json)));
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    [Fact]
    public void TheSpecRoundTrips()
    {
        string json = "{\"input\":[1,4,4],\"classes\":2,\"layers\":[{\"type\":\"flatten\"},{\"type\":\"dropout\",\"p\":0.25},{\"type\":\"dense\",\"out\":2}]}";
        ModelSpec spec = ModelSpecJson.Parse(json);
        Network network = Network.Build(ModelSpecJson.Parse(ModelSpecJson.Write(spec)));
        Dropout dropout = Assert.IsType<Dropout>(network.Layers[1]);
        Assert.Equal(0.25f, dropout.P);
        Assert.Equal("dropout p=0.25", dropout.Describe());
    }

    private static float[] Mask(Dropout layer, PassContext pass, int[] samples)
    {
        var scratch = new float[layer.ScratchSize(samples.Length)];
        layer.DrawNoise(samples.Length, pass, samples, scratch);
        return scratch;
    }
}

using CnnCluster.Engine.Layers;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Training;
using CnnCluster.Engine.Tensors;
using Xunit;

namespace CnnCluster.Engine.Tests;

/// <summary>
/// The fused stage (conv's epilogue pooling through the ReLU) against the three layers run one after another: the
/// pooled values, the argmax, the conv's input delta and its parameter gradient bit for bit, on both of the conv's
/// forward paths (by channels in the channels-last tile; by position in the grid), with odd outputs whose last row or
/// column the pool drops, a stride, windows of tied values (a channel of zero weights: all its outputs the bias,
/// negative or positive) and a NaN in the input. Outputs start NaN with canaries around them, the scratch NaN too.
/// </summary>
public sealed class ConvReluPoolTests
{
    [Theory]
    [InlineData(1, 28, 28, 6, 5, 1, 2, 1)]     // lenet5's first: by position
    [InlineData(6, 14, 14, 16, 5, 1, 0, 2)]    // lenet5's second: by channels
    [InlineData(1, 28, 28, 32, 3, 1, 1, 3)]    // convnet's first: forward by position in groups of 6 (the last of 2)
    [InlineData(32, 14, 14, 48, 3, 1, 1, 4)]   // convnet's second: three vectors a pass on AVX2
    [InlineData(3, 11, 9, 8, 3, 1, 0, 5)]      // a 9x7 output: last row and column dropped
    [InlineData(4, 13, 13, 10, 3, 2, 1, 6)]    // stride 2, 7x7
    [InlineData(2, 5, 5, 3, 3, 1, 0, 7)]       // one window a plane (rows spill)
    [InlineData(2, 9, 21, 5, 3, 1, 1, 8)]      // by position, rows of 10 windows
    [InlineData(1, 7, 7, 9, 3, 1, 1, 9)]       // one input channel, 7x7
    [InlineData(2, 10, 10, 5, 3, 1, 0, 10)]    // rows of 4 windows: one 4-window step (AVX2 or SSE)
    [InlineData(3, 16, 16, 4, 3, 1, 0, 11)]    // rows of 7 windows: two 4-window steps, overlapping
    public void TheFusedStageGivesTheThreeLayersBits(int c, int h, int w, int k, int kernel, int stride, int pad, int seed)
    {
        Compare(c, h, w, k, kernel, stride, pad, seed, nan: false);
        Compare(c, h, w, k, kernel, stride, pad, seed, nan: true);
    }

    private static void Compare(int c, int h, int w, int k, int kernel, int stride, int pad, int seed, bool nan)
    {
        const int n = 3;
        var conv = new Conv2d(new Shape3(c, h, w), k, kernel, stride, pad);
        var relu = new ActivationLayer(conv.Output, ActivationKind.ReLU);
        var pool = new MaxPool2d(conv.Output, 2);
        ConvReluPool stage = Assert.IsType<ConvReluPool>(ConvReluPool.At([conv, relu, pool], 0));

        var rng = new Rng((ulong)seed);
        float[] x = TestData.Gaussian(rng, n * conv.Input.Size);
        if (nan)
        {
            x[x.Length / 2] = float.NaN;
        }
        float[] p = TestData.Gaussian(rng, conv.ParameterCount);
        int weightsPerChannel = c * kernel * kernel, biases = conv.ParameterCount - k;
        p.AsSpan(0, weightsPerChannel).Clear();                             // channel 0: every output its bias
        p[biases] = -0.5f;                                                  // ... negative: a plane of ReLU zeros
        if (k > 1)
        {
            p.AsSpan(weightsPerChannel, weightsPerChannel).Clear();         // channel 1: ties of one positive value
            p[biases + 1] = 0.75f;
        }

        float[] dy = TestData.Gaussian(rng, n * pool.Output.Size);

        // the three layers
        float[] u = new float[n * conv.Output.Size], a = new float[u.Length], y = new float[dy.Length];
        float[] convScratch = new float[conv.ScratchSize(n)], poolScratch = new float[pool.ScratchSize(n)];
        conv.Forward(n, x, u, p, convScratch);
        relu.Forward(n, u, a, [], []);
        pool.Forward(n, a, y, [], poolScratch);
        float[] da = new float[a.Length], du = new float[u.Length], dx = new float[x.Length], g = new float[p.Length];
        pool.Backward(n, a, y, dy, da, [], [], poolScratch);
        relu.Backward(n, u, a, da, du, [], [], []);
        conv.Backward(n, x, u, du, dx, p, g, convScratch);

        // the stage
        GuardedBuffer fy = GuardedBuffer.Poisoned(y.Length), fdx = GuardedBuffer.Poisoned(dx.Length), fg = GuardedBuffer.Zeroed(g.Length);
        GuardedBuffer fConv = GuardedBuffer.Poisoned(convScratch.Length), fPool = GuardedBuffer.Poisoned(poolScratch.Length);
        stage.Forward(n, x, fy.Span, p, fConv.Span, fPool.Span);
        stage.Backward(n, x, fy.Span, dy, fdx.Span, p, fg.Span, fConv.Span, fPool.Span);
        foreach ((GuardedBuffer buffer, string what) in new[] { (fy, "pooled"), (fdx, "dx"), (fg, "gradient"), (fConv, "conv scratch"), (fPool, "argmax") })
        {
            buffer.AssertCanaries(what);
        }

        Assert.True(y.Any(float.IsNaN) == nan && y.Any(v => v == 0f) && (nan || g.All(float.IsFinite)), "the case has ReLU zeros (and a NaN where asked) to compare");
        AssertSameBits(y, fy.ToArray(), "pooled");
        Assert.Equal(poolScratch.Select(BitConverter.SingleToInt32Bits), fPool.ToArray().Select(BitConverter.SingleToInt32Bits)); // argmax
        AssertSameBits(dx, fdx.ToArray(), "dx");
        AssertSameBits(g, fg.ToArray(), "gradient");
    }

    [Theory]
    [InlineData("lenet5")]
    [InlineData("convnet")]
    public void ANetworkGivesTheSameLossAndGradientWithItsStagesAsLayerByLayer(string model)
    {
        Network network = Network.Build(Presets.Find(model)!);
        const int n = 5;
        var rng = new Rng(11);
        float[] x = TestData.Gaussian(rng, n * network.Input.Size), p = network.InitialParameters(7);
        int[] labels = [.. Enumerable.Range(0, n).Select(i => (i * 3) % network.Classes)];
        var results = new List<(double Loss, float[] Gradient)>();
        foreach (bool fuse in new[] { true, false })
        {
            var workspace = new Workspace(network, n, fuse);
            workspace.SetInput(x, labels);
            float[] g = new float[p.Length];
            results.Add((workspace.ForwardBackward(p, g, n), g));
        }

        Assert.Equal(results[1].Loss, results[0].Loss);
        AssertSameBits(results[1].Gradient, results[0].Gradient, $"{model} gradient");
        Assert.Contains(results[0].Gradient, v => v != 0f);
    }

    [Theory]
    [InlineData(28, 3)]   // rows of 14 windows: the 8-window steps
    [InlineData(28, 13)]  // the overlapping last step
    [InlineData(10, 4)]   // rows of 5 windows: the 4-window steps, the overlapping last one
    [InlineData(10, 1)]   // the first 4-window step
    [InlineData(6, 4)]    // rows of 3 windows: one window at a time
    public void AnArgmaxOutsideItsOwnWindowIsRefusedBeforeTheBackwardUsesIt(int size, int window)
    {
        // an argmax moved to the next window's same corner is still inside the sample's output: only its window can tell
        const int n = 2;
        var conv = new Conv2d(new Shape3(1, size, size), 6, 3, 1, 1);
        ConvReluPool stage = Assert.IsType<ConvReluPool>(ConvReluPool.At([conv, new ActivationLayer(conv.Output, ActivationKind.ReLU), new MaxPool2d(conv.Output, 2)], 0));
        var rng = new Rng(3);
        float[] x = TestData.Gaussian(rng, n * conv.Input.Size), p = TestData.Gaussian(rng, conv.ParameterCount);
        float[] pooled = new float[n * stage.Pool.Output.Size], dy = TestData.Gaussian(rng, pooled.Length), dx = new float[x.Length], g = new float[p.Length];
        float[] convScratch = new float[conv.ScratchSize(n)], poolScratch = new float[stage.Pool.ScratchSize(n)];
        stage.Forward(n, x, pooled, p, convScratch, poolScratch);
        stage.Backward(n, x, pooled, dy, dx, p, g, convScratch, poolScratch); // as the forward left it: accepted

        Span<int> argmax = System.Runtime.InteropServices.MemoryMarshal.Cast<float, int>(poolScratch.AsSpan());
        argmax[stage.Pool.Output.Size + window] += 2; // the second sample's window
        var e = Assert.Throws<ArgumentException>(() => stage.Backward(n, x, pooled, dy, dx, p, g, convScratch, poolScratch));
        Assert.Contains("outside its window", e.Message);
    }

    // bit for bit; any NaN matches any NaN (a ReLU may keep a NaN's payload or make its own)
    private static void AssertSameBits(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            bool same = (float.IsNaN(expected[i]) && float.IsNaN(actual[i])) || BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]);
            Assert.True(same, $"{what}[{i}]: three layers {expected[i]:R}, fused {actual[i]:R}");
        }
    }
}

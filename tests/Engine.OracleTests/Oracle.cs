using CnnCluster.Engine.Layers;
using CnnCluster.Engine.Tensors;
using CnnCluster.Engine.Tests;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace CnnCluster.Engine.OracleTests;

/// <summary>
/// Runs one of our layers forward and backward on random data and hands the same data to libtorch,
/// whose autograd gives the reference gradients.
/// </summary>
internal static class Oracle
{
    /// <summary>
    /// Our layer's y, dx and parameter gradient for input x, parameters p and upstream delta dy, computed
    /// twice in canary-guarded buffers with NaN-filled outputs and scratch: a stray read or write, or a
    /// result that changes from one call to the next, fails here with its own message, before libtorch is asked.
    /// </summary>
    public static (float[] Y, float[] Dx, float[] Dp) Ours(Layer layer, int n, float[] x, float[] p, float[] dy)
    {
        (float[] Y, float[] Dx, float[] Dp) first = Guarded(layer, n, x, p, dy), second = Guarded(layer, n, x, p, dy);
        Assert.True(
            first.Y.AsSpan().SequenceEqual(second.Y) && first.Dx.AsSpan().SequenceEqual(second.Dx) && first.Dp.AsSpan().SequenceEqual(second.Dp),
            $"{layer.Describe()}: our results differ between two calls on the same data");
        return first;
    }

    private static (float[] Y, float[] Dx, float[] Dp) Guarded(Layer layer, int n, float[] x, float[] p, float[] dy)
    {
        GuardedBuffer gx = GuardedBuffer.Of(x), gp = GuardedBuffer.Of(p), gdy = GuardedBuffer.Of(dy);
        GuardedBuffer y = GuardedBuffer.Poisoned(n * layer.Output.Size), dx = GuardedBuffer.Poisoned(n * layer.Input.Size);
        GuardedBuffer dp = GuardedBuffer.Zeroed(p.Length), scratch = GuardedBuffer.Poisoned(layer.ScratchSize(n));
        layer.Forward(n, gx.Span, y.Span, gp.Span, scratch.Span);
        layer.Backward(n, gx.Span, y.Span, gdy.Span, dx.Span, gp.Span, dp.Span, scratch.Span);
        string what = layer.Describe();
        foreach ((GuardedBuffer buffer, string name) in new[] { (y, "y"), (dx, "dx"), (dp, "dp"), (scratch, "scratch") })
        {
            buffer.AssertCanaries($"{what}: {name}");
        }

        gx.AssertUnchanged(x, $"{what}: x");
        gp.AssertUnchanged(p, $"{what}: p");
        gdy.AssertUnchanged(dy, $"{what}: dy");
        return (y.ToArray(), dx.ToArray(), dp.ToArray());
    }

    public static Tensor Leaf(float[] values, params long[] shape) => tensor(values, shape).requires_grad_(true);

    public static float[] Values(Tensor t) => t.detach().contiguous().data<float>().ToArray();

    public static float[] Random(Rng rng, int count, double scale = 1)
    {
        var a = new float[count];
        for (int i = 0; i < count; i++)
        {
            a[i] = (float)(rng.NextGaussian() * scale);
        }

        return a;
    }

    /// <summary>
    /// Elementwise agreement within <paramref name="relative"/> of each expected value, with a floor of
    /// 1% of the tensor's largest magnitude so that values that cancel to near zero are judged on the
    /// tensor's scale.
    /// </summary>
    public static void AssertClose(float[] expected, float[] actual, string what, double relative = 1e-4, string expectedName = "libtorch")
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = expected.Length == 0 ? 0 : expected.Max(v => Math.Abs((double)v));
        double worst = 0;
        int worstAt = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            double err = Math.Abs((double)expected[i] - actual[i]) / Math.Max(Math.Abs((double)expected[i]), Math.Max(0.01 * scale, 1e-12));
            if (err > worst)
            {
                worst = err;
                worstAt = i;
            }
        }

        Assert.True(worst <= relative, $"{what}: relative error {worst:E2} at [{worstAt}] ({expectedName} {(worstAt >= 0 ? expected[worstAt] : 0)}, ours {(worstAt >= 0 ? actual[worstAt] : 0)})");
    }
}

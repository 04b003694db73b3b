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
        (float[] Y, float[] Dx, float[] Dp) first = GuardedRun.Layer(layer, n, x, p, dy, layer.Describe()), second = GuardedRun.Layer(layer, n, x, p, dy, layer.Describe());
        Assert.True(
            first.Y.AsSpan().SequenceEqual(second.Y) && first.Dx.AsSpan().SequenceEqual(second.Dx) && first.Dp.AsSpan().SequenceEqual(second.Dp),
            $"{layer.Describe()}: our results differ between two calls on the same data");
        return first;
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

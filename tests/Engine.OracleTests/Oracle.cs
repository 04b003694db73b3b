using CnnCluster.Engine.Layers;
using CnnCluster.Engine.Tensors;
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
    /// <summary>Our layer's y, dx and parameter gradient for input x, parameters p and upstream delta dy.</summary>
    public static (float[] Y, float[] Dx, float[] Dp) Ours(Layer layer, int n, float[] x, float[] p, float[] dy)
    {
        var y = new float[n * layer.Output.Size];
        var dx = new float[n * layer.Input.Size];
        var dp = new float[p.Length];
        var scratch = new float[layer.ScratchSize(n)];
        layer.Forward(n, x, y, p, scratch);
        layer.Backward(n, x, y, dy, dx, p, dp, scratch);
        return (y, dx, dp);
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
    public static void AssertClose(float[] expected, float[] actual, string what, double relative = 1e-4)
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

        Assert.True(worst <= relative, $"{what}: relative error {worst:E2} at [{worstAt}] (libtorch {(worstAt >= 0 ? expected[worstAt] : 0)}, ours {(worstAt >= 0 ? actual[worstAt] : 0)})");
    }
}

using CnnCluster.Engine.Tensors;

namespace CnnCluster.Engine.Tests;

/// <summary>Seeded test inputs.</summary>
internal static class TestData
{
    /// <summary><paramref name="count"/> standard normal values from <paramref name="rng"/>.</summary>
    public static float[] Gaussian(Rng rng, int count)
    {
        var a = new float[count];
        for (int i = 0; i < count; i++)
        {
            a[i] = (float)rng.NextGaussian();
        }

        return a;
    }
}

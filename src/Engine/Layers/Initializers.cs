using CnnCluster.Engine.Tensors;

namespace CnnCluster.Engine.Layers;

/// <summary>How weights are drawn: He (for ReLU) or Glorot (for tanh / sigmoid), both uniform.</summary>
public enum WeightInit
{
    He,
    Glorot,
}

internal static class Initializers
{
    public static void Fill(Span<float> w, WeightInit init, int fanIn, int fanOut, Rng rng)
    {
        double bound = init switch
        {
            WeightInit.He => Math.Sqrt(6.0 / fanIn),
            _ => Math.Sqrt(6.0 / (fanIn + fanOut)),
        };
        for (int i = 0; i < w.Length; i++)
        {
            w[i] = (float)((2 * rng.NextDouble() - 1) * bound);
        }
    }
}

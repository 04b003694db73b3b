namespace CnnCluster.Engine.Tensors;

/// <summary>
/// SplitMix64: a tiny, portable generator whose sequence is fixed by its seed on every platform and
/// .NET version, so initial weights and epoch orders are part of a run's configuration.
/// </summary>
public sealed class Rng
{
    private ulong _state;

    public Rng(ulong seed)
    {
        _state = seed;
    }

    /// <summary>An independent stream for (seed, stream): e.g. (run seed, layer index) or (run seed, epoch).</summary>
    public static Rng For(ulong seed, ulong stream) => new(Mix(seed ^ Mix(stream + 0x632BE59BD9B4E019UL)));

    public ulong NextUInt64()
    {
        _state += 0x9E3779B97F4A7C15UL;
        return Mix(_state);
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    public float NextUniform(float low, float high) => (float)(low + ((double)high - low) * NextDouble());

    /// <summary>Uniform integer in [0, n) (Lemire's multiply-shift; bias below 2^-32).</summary>
    public int NextInt(int n) => (int)(((NextUInt64() >> 32) * (ulong)n) >> 32);

    public double NextGaussian()
    {
        double u1 = 1.0 - NextDouble();
        double u2 = NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    /// <summary>Fisher–Yates permutation of 0..n-1.</summary>
    public int[] Permutation(int n)
    {
        var order = new int[n];
        for (int i = 0; i < n; i++)
        {
            order[i] = i;
        }

        for (int i = n - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }

        return order;
    }

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}

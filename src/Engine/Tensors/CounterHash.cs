namespace CnnCluster.Engine.Tensors;

/// <summary>
/// Random bits as a pure function of a counter: hash(seed, stream, a, b). Unlike <see cref="Rng"/> it has no
/// state to share, so any thread or worker that needs the draw of (step, sample) computes the same bits
/// without having seen the draws before it (augmentation, dropout masks).
/// </summary>
public static class CounterHash
{
    public static ulong Of(ulong seed, ulong stream, ulong a, ulong b)
    {
        ulong h = Mix(seed ^ Mix(stream + 0x632BE59BD9B4E019UL));
        h = Mix(h ^ (a * 0x9E3779B97F4A7C15UL));
        return Mix(h + (b * 0xD6E8FEB86659FD93UL) + 1);
    }

    /// <summary>The i-th value of the SplitMix64 sequence that starts at <paramref name="key"/>: cheap per-unit bits under one key.</summary>
    public static ulong At(ulong key, ulong i) => Mix(key + ((i + 1) * 0x9E3779B97F4A7C15UL));

    /// <summary>A uniform integer in [0, n) from the top 32 bits of <paramref name="bits"/> (multiply-shift).</summary>
    public static int Below(ulong bits, int n) => (int)(((bits >> 32) * (ulong)n) >> 32);

    /// <summary>A fair coin from the top bit of <paramref name="bits"/>.</summary>
    public static bool Coin(ulong bits) => (bits >> 63) != 0;

    internal static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}

using CnnCluster.Engine.Tensors;

namespace CnnCluster.Engine.Training;

/// <summary>The order samples are visited in an epoch: a permutation drawn from (seed, epoch) alone.</summary>
public static class EpochOrder
{
    private const ulong Stream = 0x4550_4F43_4800_0000UL; // "EPOCH", apart from the layer streams

    public static int[] For(ulong seed, int epoch, int samples) => Rng.For(seed, Stream + (ulong)epoch).Permutation(samples);
}

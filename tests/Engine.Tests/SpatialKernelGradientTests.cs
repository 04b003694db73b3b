using CnnCluster.Engine.Kernels;
using Xunit;

namespace CnnCluster.Engine.Tests;

/// <summary>
/// The by-position kernel gradient's two tilings (6 channels × 4 taps where there are 32 vector registers, × 2 where
/// there are 16) against the contract's plain form: lane l of 8 sums the grid positions g ≡ l (mod 8) in order with
/// fused multiply-adds, the lanes folded as <see cref="SpatialKernels.Fold"/> does, added to what dw6 held. Every
/// tiling runs on this CPU whatever it has, so both are checked everywhere; bits compared, canaries around dw6.
/// </summary>
public sealed class SpatialKernelGradientTests
{
    [Theory]
    [InlineData(5, 32, 32, 1)]    // lenet5's first conv: 25 taps (an odd last tile), grid of 28 rows at pitch 32
    [InlineData(3, 30, 32, 2)]    // 9 taps
    [InlineData(1, 8, 8, 3)]      // one tap, one vector of the grid
    [InlineData(4, 20, 24, 4)]    // 16 taps, whole tiles of both
    public void BothTilingsGiveThePlainSumsBits(int kernel, int wp, int grid, int seed)
    {
        var random = new Random(seed);
        int[] offsets = Enumerable.Range(0, kernel * kernel).Select(q => (q / kernel * wp) + (q % kernel)).ToArray();
        float[] xpad = Enumerable.Range(0, grid + offsets[^1]).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        float[] dygrid = Enumerable.Range(0, SpatialKernels.Channels * grid).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        float[] start = Enumerable.Range(0, offsets.Length * SpatialKernels.Channels).Select(_ => (float)random.NextDouble()).ToArray();

        float[] plain = (float[])start.Clone();
        for (int q = 0; q < offsets.Length; q++)
        {
            for (int r = 0; r < SpatialKernels.Channels; r++)
            {
                float[] lane = new float[8];
                for (int g = 0; g < grid; g++)
                {
                    lane[g % 8] = MathF.FusedMultiplyAdd(dygrid[(r * grid) + g], xpad[g + offsets[q]], lane[g % 8]);
                }

                float[] half = [lane[0] + lane[4], lane[1] + lane[5], lane[2] + lane[6], lane[3] + lane[7]];
                plain[(q * SpatialKernels.Channels) + r] += (half[0] + half[2]) + (half[1] + half[3]);
            }
        }

        foreach (int taps in new[] { 2, 4 })
        {
            GuardedBuffer dw6 = GuardedBuffer.Of(start);
            SpatialKernels.KernelGradient(xpad, offsets, dygrid, grid, dw6.Span, taps);
            dw6.AssertCanaries($"dw6 with {taps} taps a tile");
            Assert.Equal(plain.Select(BitConverter.SingleToInt32Bits), dw6.ToArray().Select(BitConverter.SingleToInt32Bits));
        }
    }
}

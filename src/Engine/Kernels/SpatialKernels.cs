using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace CnnCluster.Engine.Kernels;

/// <summary>
/// The forward microkernel for stride-1 convolutions with few output channels (≤ 6), vectorized over output
/// positions instead of channels: a step is 2·L consecutive positions of the output "grid" (output
/// rows laid out at the padded input's row pitch, so that each tap reads one contiguous run of the
/// padded input; the grid's columns past the output width are junk and dropped or zero).
/// Offset tables ascend (the caller's do), so their first and last entries bound every read.
/// </summary>
internal static class SpatialKernels
{
    public const int Channels = 6;

    /// <summary>The grid is padded to whole blocks of this many positions on every CPU (2 × 16 lanes), so the layout does not depend on the register width.</summary>
    public const int Block = 32;

    /// <summary>
    /// ygrid[r, g .. g + 2L) = Σ_q w6[q, r] · xpad[g + offset[q] ..] for every block g of 2L grid
    /// positions below <paramref name="grid"/> (a multiple of 2L), r &lt; 6 (written for r &lt; <paramref name="channels"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Forward<TOps, TVec>(ReadOnlySpan<float> xpad, ReadOnlySpan<int> offsets, ReadOnlySpan<float> w6, Span<float> ygrid, int grid, int channels)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct
    {
        int lanes = TOps.Count, block = 2 * lanes;
        if (grid % block != 0 || offsets.IsEmpty || offsets[0] < 0 || (long)grid - 1 + offsets[^1] >= xpad.Length || w6.Length < offsets.Length * Channels || ygrid.Length < channels * grid)
        {
            throw new ArgumentException("spatial forward operands out of range");
        }

        int terms = offsets.Length;
        for (int g = 0; g < grid; g += block)
        {
            TVec a0 = TOps.Zero, a1 = TOps.Zero, a2 = TOps.Zero, a3 = TOps.Zero, a4 = TOps.Zero, a5 = TOps.Zero;
            TVec b0 = TOps.Zero, b1 = TOps.Zero, b2 = TOps.Zero, b3 = TOps.Zero, b4 = TOps.Zero, b5 = TOps.Zero;
            for (int t = 0; t < terms; t++)
            {
                int xt = g + Mem.Get(offsets, t), w = t * Channels;
                TVec u = Mem.Load<TOps, TVec>(xpad, xt), v = Mem.Load<TOps, TVec>(xpad, xt + lanes);
                TVec c = TOps.Broadcast(Mem.Get(w6, w));
                a0 = TOps.MultiplyAdd(c, u, a0); b0 = TOps.MultiplyAdd(c, v, b0);
                c = TOps.Broadcast(Mem.Get(w6, w + 1));
                a1 = TOps.MultiplyAdd(c, u, a1); b1 = TOps.MultiplyAdd(c, v, b1);
                c = TOps.Broadcast(Mem.Get(w6, w + 2));
                a2 = TOps.MultiplyAdd(c, u, a2); b2 = TOps.MultiplyAdd(c, v, b2);
                c = TOps.Broadcast(Mem.Get(w6, w + 3));
                a3 = TOps.MultiplyAdd(c, u, a3); b3 = TOps.MultiplyAdd(c, v, b3);
                c = TOps.Broadcast(Mem.Get(w6, w + 4));
                a4 = TOps.MultiplyAdd(c, u, a4); b4 = TOps.MultiplyAdd(c, v, b4);
                c = TOps.Broadcast(Mem.Get(w6, w + 5));
                a5 = TOps.MultiplyAdd(c, u, a5); b5 = TOps.MultiplyAdd(c, v, b5);
            }

            Put<TOps, TVec>(ygrid, g, 0, grid, lanes, channels, a0, b0);
            Put<TOps, TVec>(ygrid, g, 1, grid, lanes, channels, a1, b1);
            Put<TOps, TVec>(ygrid, g, 2, grid, lanes, channels, a2, b2);
            Put<TOps, TVec>(ygrid, g, 3, grid, lanes, channels, a3, b3);
            Put<TOps, TVec>(ygrid, g, 4, grid, lanes, channels, a4, b4);
            Put<TOps, TVec>(ygrid, g, 5, grid, lanes, channels, a5, b5);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Put<TOps, TVec>(Span<float> y, int g, int row, int grid, int lanes, int channels, TVec a, TVec b)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct
    {
        if (row < channels)
        {
            int at = (row * grid) + g;
            Mem.Store<TOps, TVec>(a, y, at);
            Mem.Store<TOps, TVec>(b, y, at + lanes);
        }
    }
}

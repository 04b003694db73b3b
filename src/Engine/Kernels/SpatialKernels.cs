using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace CnnCluster.Engine.Kernels;

/// <summary>
/// Microkernels for stride-1 convolutions with few output channels (≤ 6), vectorized over output
/// positions instead of channels: a vector is 2·L consecutive positions of the output "grid" (output
/// rows laid out at the padded input's row pitch, so that each tap reads one contiguous run of the
/// padded input; the grid's columns past the output width are junk and dropped or zero).
/// Offset tables ascend (the caller's do), so their first and last entries bound every read.
/// </summary>
internal static class SpatialKernels
{
    public const int Channels = 6;

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

        ref float x0 = ref MemoryMarshal.GetReference(xpad);
        ref float wq = ref MemoryMarshal.GetReference(w6);
        ref int off = ref MemoryMarshal.GetReference(offsets);
        ref float y0 = ref MemoryMarshal.GetReference(ygrid);
        int terms = offsets.Length;
        for (int g = 0; g < grid; g += block)
        {
            TVec a0 = TOps.Zero, a1 = TOps.Zero, a2 = TOps.Zero, a3 = TOps.Zero, a4 = TOps.Zero, a5 = TOps.Zero;
            TVec b0 = TOps.Zero, b1 = TOps.Zero, b2 = TOps.Zero, b3 = TOps.Zero, b4 = TOps.Zero, b5 = TOps.Zero;
            ref float xg = ref Unsafe.Add(ref x0, g);
            for (int t = 0; t < terms; t++)
            {
                ref float xt = ref Unsafe.Add(ref xg, Unsafe.Add(ref off, t));
                TVec u = TOps.Load(ref xt), v = TOps.Load(ref Unsafe.Add(ref xt, lanes));
                ref float w = ref Unsafe.Add(ref wq, t * Channels);
                TVec c = TOps.Broadcast(w);
                a0 = TOps.MultiplyAdd(c, u, a0); b0 = TOps.MultiplyAdd(c, v, b0);
                c = TOps.Broadcast(Unsafe.Add(ref w, 1));
                a1 = TOps.MultiplyAdd(c, u, a1); b1 = TOps.MultiplyAdd(c, v, b1);
                c = TOps.Broadcast(Unsafe.Add(ref w, 2));
                a2 = TOps.MultiplyAdd(c, u, a2); b2 = TOps.MultiplyAdd(c, v, b2);
                c = TOps.Broadcast(Unsafe.Add(ref w, 3));
                a3 = TOps.MultiplyAdd(c, u, a3); b3 = TOps.MultiplyAdd(c, v, b3);
                c = TOps.Broadcast(Unsafe.Add(ref w, 4));
                a4 = TOps.MultiplyAdd(c, u, a4); b4 = TOps.MultiplyAdd(c, v, b4);
                c = TOps.Broadcast(Unsafe.Add(ref w, 5));
                a5 = TOps.MultiplyAdd(c, u, a5); b5 = TOps.MultiplyAdd(c, v, b5);
            }

            ref float yg = ref Unsafe.Add(ref y0, g);
            Put<TOps, TVec>(ref yg, 0, grid, lanes, channels, a0, b0);
            Put<TOps, TVec>(ref yg, 1, grid, lanes, channels, a1, b1);
            Put<TOps, TVec>(ref yg, 2, grid, lanes, channels, a2, b2);
            Put<TOps, TVec>(ref yg, 3, grid, lanes, channels, a3, b3);
            Put<TOps, TVec>(ref yg, 4, grid, lanes, channels, a4, b4);
            Put<TOps, TVec>(ref yg, 5, grid, lanes, channels, a5, b5);
        }
    }

    /// <summary>
    /// dw6[r, q] += Σ_g dygrid[r, g] · xpad[g + offset[q]] over g below <paramref name="grid"/> (a
    /// multiple of L), for r &lt; <paramref name="channels"/> (≤ 6; dygrid rows up to 6 are read, so
    /// missing channels must be zero rows) and every q: tiles of 6 channels × 4 taps.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void KernelGradient<TOps, TVec>(ReadOnlySpan<float> xpad, ReadOnlySpan<int> offsets, ReadOnlySpan<float> dygrid, int grid, Span<float> dw6)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct
    {
        int lanes = TOps.Count, terms = offsets.Length;
        if (grid % lanes != 0 || offsets.IsEmpty || offsets[0] < 0 || (long)grid - 1 + offsets[^1] >= xpad.Length || dygrid.Length < Channels * grid || dw6.Length < terms * Channels)
        {
            throw new ArgumentException("spatial kernel-gradient operands out of range");
        }

        ref float x0 = ref MemoryMarshal.GetReference(xpad);
        ref float d0 = ref MemoryMarshal.GetReference(dygrid);
        for (int q = 0; q < terms; q += 4)
        {
            int o0 = offsets[q], o1 = offsets[Math.Min(q + 1, terms - 1)], o2 = offsets[Math.Min(q + 2, terms - 1)], o3 = offsets[Math.Min(q + 3, terms - 1)];
            TVec s00 = TOps.Zero, s01 = TOps.Zero, s02 = TOps.Zero, s03 = TOps.Zero;
            TVec s10 = TOps.Zero, s11 = TOps.Zero, s12 = TOps.Zero, s13 = TOps.Zero;
            TVec s20 = TOps.Zero, s21 = TOps.Zero, s22 = TOps.Zero, s23 = TOps.Zero;
            TVec s30 = TOps.Zero, s31 = TOps.Zero, s32 = TOps.Zero, s33 = TOps.Zero;
            TVec s40 = TOps.Zero, s41 = TOps.Zero, s42 = TOps.Zero, s43 = TOps.Zero;
            TVec s50 = TOps.Zero, s51 = TOps.Zero, s52 = TOps.Zero, s53 = TOps.Zero;
            for (int g = 0; g < grid; g += lanes)
            {
                ref float xg = ref Unsafe.Add(ref x0, g);
                TVec x0v = TOps.Load(ref Unsafe.Add(ref xg, o0)), x1v = TOps.Load(ref Unsafe.Add(ref xg, o1));
                TVec x2v = TOps.Load(ref Unsafe.Add(ref xg, o2)), x3v = TOps.Load(ref Unsafe.Add(ref xg, o3));
                ref float dg = ref Unsafe.Add(ref d0, g);
                TVec d = TOps.Load(ref dg);
                s00 = TOps.MultiplyAdd(d, x0v, s00); s01 = TOps.MultiplyAdd(d, x1v, s01); s02 = TOps.MultiplyAdd(d, x2v, s02); s03 = TOps.MultiplyAdd(d, x3v, s03);
                d = TOps.Load(ref Unsafe.Add(ref dg, grid));
                s10 = TOps.MultiplyAdd(d, x0v, s10); s11 = TOps.MultiplyAdd(d, x1v, s11); s12 = TOps.MultiplyAdd(d, x2v, s12); s13 = TOps.MultiplyAdd(d, x3v, s13);
                d = TOps.Load(ref Unsafe.Add(ref dg, 2 * grid));
                s20 = TOps.MultiplyAdd(d, x0v, s20); s21 = TOps.MultiplyAdd(d, x1v, s21); s22 = TOps.MultiplyAdd(d, x2v, s22); s23 = TOps.MultiplyAdd(d, x3v, s23);
                d = TOps.Load(ref Unsafe.Add(ref dg, 3 * grid));
                s30 = TOps.MultiplyAdd(d, x0v, s30); s31 = TOps.MultiplyAdd(d, x1v, s31); s32 = TOps.MultiplyAdd(d, x2v, s32); s33 = TOps.MultiplyAdd(d, x3v, s33);
                d = TOps.Load(ref Unsafe.Add(ref dg, 4 * grid));
                s40 = TOps.MultiplyAdd(d, x0v, s40); s41 = TOps.MultiplyAdd(d, x1v, s41); s42 = TOps.MultiplyAdd(d, x2v, s42); s43 = TOps.MultiplyAdd(d, x3v, s43);
                d = TOps.Load(ref Unsafe.Add(ref dg, 5 * grid));
                s50 = TOps.MultiplyAdd(d, x0v, s50); s51 = TOps.MultiplyAdd(d, x1v, s51); s52 = TOps.MultiplyAdd(d, x2v, s52); s53 = TOps.MultiplyAdd(d, x3v, s53);
            }

            int valid = Math.Min(4, terms - q);
            AddSums<TOps, TVec>(dw6, q, 0, valid, s00, s01, s02, s03);
            AddSums<TOps, TVec>(dw6, q, 1, valid, s10, s11, s12, s13);
            AddSums<TOps, TVec>(dw6, q, 2, valid, s20, s21, s22, s23);
            AddSums<TOps, TVec>(dw6, q, 3, valid, s30, s31, s32, s33);
            AddSums<TOps, TVec>(dw6, q, 4, valid, s40, s41, s42, s43);
            AddSums<TOps, TVec>(dw6, q, 5, valid, s50, s51, s52, s53);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Put<TOps, TVec>(ref float y, int row, int grid, int lanes, int channels, TVec a, TVec b)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct
    {
        if (row < channels)
        {
            ref float dst = ref Unsafe.Add(ref y, row * grid);
            TOps.Store(a, ref dst);
            TOps.Store(b, ref Unsafe.Add(ref dst, lanes));
        }
    }

    // dw6 is (q, 6): dw6[q + i, r] += Σ lanes of s_i
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddSums<TOps, TVec>(Span<float> dw6, int q, int r, int valid, TVec s0, TVec s1, TVec s2, TVec s3)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct
    {
        dw6[q * Channels + r] += TOps.Sum(s0);
        if (valid > 1)
        {
            dw6[(q + 1) * Channels + r] += TOps.Sum(s1);
        }

        if (valid > 2)
        {
            dw6[(q + 2) * Channels + r] += TOps.Sum(s2);
        }

        if (valid > 3)
        {
            dw6[(q + 3) * Channels + r] += TOps.Sum(s3);
        }
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.InteropServices;

namespace CnnCluster.Engine.Kernels;

/// <summary>
/// Microkernels for stride-1 convolutions with few output channels (≤ 6), vectorized over output
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

        Mem.RequireAscending(offsets);

        int terms = offsets.Length;
        Cursor x0 = new(xpad), w0 = new(w6), y0 = new(ygrid);
        for (int g = 0; g < grid; g += block)
        {
            TVec a0 = TOps.Zero, a1 = TOps.Zero, a2 = TOps.Zero, a3 = TOps.Zero, a4 = TOps.Zero, a5 = TOps.Zero;
            TVec b0 = TOps.Zero, b1 = TOps.Zero, b2 = TOps.Zero, b3 = TOps.Zero, b4 = TOps.Zero, b5 = TOps.Zero;
            for (int t = 0; t < terms; t++)
            {
                Cursor xt = x0.At(g + Mem.Get(offsets, t)), w = w0.At(t * Channels);
                TVec u = xt.Load<TOps, TVec>(0), v = xt.Load<TOps, TVec>(lanes);
                TVec c = TOps.Broadcast(w.Get(0));
                a0 = TOps.MultiplyAdd(c, u, a0); b0 = TOps.MultiplyAdd(c, v, b0);
                c = TOps.Broadcast(w.Get(1));
                a1 = TOps.MultiplyAdd(c, u, a1); b1 = TOps.MultiplyAdd(c, v, b1);
                c = TOps.Broadcast(w.Get(2));
                a2 = TOps.MultiplyAdd(c, u, a2); b2 = TOps.MultiplyAdd(c, v, b2);
                c = TOps.Broadcast(w.Get(3));
                a3 = TOps.MultiplyAdd(c, u, a3); b3 = TOps.MultiplyAdd(c, v, b3);
                c = TOps.Broadcast(w.Get(4));
                a4 = TOps.MultiplyAdd(c, u, a4); b4 = TOps.MultiplyAdd(c, v, b4);
                c = TOps.Broadcast(w.Get(5));
                a5 = TOps.MultiplyAdd(c, u, a5); b5 = TOps.MultiplyAdd(c, v, b5);
            }

            Put<TOps, TVec>(y0.At(g), 0, grid, lanes, channels, a0, b0);
            Put<TOps, TVec>(y0.At(g), 1, grid, lanes, channels, a1, b1);
            Put<TOps, TVec>(y0.At(g), 2, grid, lanes, channels, a2, b2);
            Put<TOps, TVec>(y0.At(g), 3, grid, lanes, channels, a3, b3);
            Put<TOps, TVec>(y0.At(g), 4, grid, lanes, channels, a4, b4);
            Put<TOps, TVec>(y0.At(g), 5, grid, lanes, channels, a5, b5);
        }
    }

    /// <summary>
    /// dw6[r, q] += Σ_g dygrid[r, g] · xpad[g + offset[q]] over g below <paramref name="grid"/> (a
    /// multiple of 8), for the 6 rows r of dygrid (missing channels must be zero rows) and every q: tiles of 6 channels × 4 taps
    /// (× 2 with 16 vector registers; the same sums either way). The sums over g run
    /// in 8 logical lanes, lane l taking g ≡ l (mod 8) in order, folded by <see cref="Fold"/>: 256-bit
    /// vectors on every CPU (.NET emulates them exactly where AVX2 is missing), so the bits do not depend on it.
    /// </summary>
    /// <param name="taps">Taps per tile, 2 or 4 (null: 4 with 32 vector registers, AVX-512, else 2): tests force each.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void KernelGradient(ReadOnlySpan<float> xpad, ReadOnlySpan<int> offsets, ReadOnlySpan<float> dygrid, int grid, Span<float> dw6, int? taps = null)
    {
        const int lanes = 8;
        int terms = offsets.Length;
        if (grid % lanes != 0 || offsets.IsEmpty || offsets[0] < 0 || (long)grid - 1 + offsets[^1] >= xpad.Length || dygrid.Length < Channels * grid || dw6.Length < terms * Channels)
        {
            throw new ArgumentException("spatial kernel-gradient operands out of range");
        }

        Mem.RequireAscending(offsets);

        var x0 = new Cursor(xpad);
        var d0 = new Cursor(dygrid);
        if ((taps ?? (Simd.Widest == VectorWidth.W512 ? 4 : 2)) == 2)
        {
            // 16 vector registers: 6 channels × 2 taps (12 sums), as 6 × 4 would spill half its 24 sums every step
            for (int q = 0; q < terms; q += 2)
            {
                Tile<Two>(x0, d0, grid, dw6, q, offsets);
            }
        }
        else
        {
            for (int q = 0; q < terms; q += 4)
            {
                Tile<Four>(x0, d0, grid, dw6, q, offsets);
            }
        }
    }

    // dw6[q + i, r] += Σ_g dygrid[r, g] · xpad[g + offset[q + i]] for the tile's taps i (TTaps.Count, 2 or 4, those past the
    // last tap repeating it and not written): 6 × 2 or 6 × 4 sums, each lane its own sum in order of g. The tap count is a type,
    // so each form is compiled without the other's registers.
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Tile<TTaps>(Cursor x0, Cursor d0, int grid, Span<float> dw6, int q, ReadOnlySpan<int> offsets)
        where TTaps : struct, IColumns
    {
        const int lanes = 8;
        bool four = TTaps.Count == 4;
        int terms = offsets.Length, last = terms - 1;
        Cursor xa = x0.At(offsets[q]), xb = x0.At(offsets[Math.Min(q + 1, last)]);
        Cursor xc = four ? x0.At(offsets[Math.Min(q + 2, last)]) : xa, xd = four ? x0.At(offsets[Math.Min(q + 3, last)]) : xa;
        Vector256<float> s00 = default, s01 = default, s02 = default, s03 = default, s10 = default, s11 = default, s12 = default, s13 = default;
        Vector256<float> s20 = default, s21 = default, s22 = default, s23 = default, s30 = default, s31 = default, s32 = default, s33 = default;
        Vector256<float> s40 = default, s41 = default, s42 = default, s43 = default, s50 = default, s51 = default, s52 = default, s53 = default;
        Vector256<float> x2v = default, x3v = default;
        nint pitch = grid;
        for (int g = 0; g < grid; g += lanes)
        {
            Cursor dg = d0.At(g);
            Vector256<float> x0v = xa.Load<V256, Vector256<float>>(g), x1v = xb.Load<V256, Vector256<float>>(g);
            if (four)
            {
                x2v = xc.Load<V256, Vector256<float>>(g);
                x3v = xd.Load<V256, Vector256<float>>(g);
            }

            Vector256<float> d = dg.Load<V256, Vector256<float>>(0);
            s00 = V256.MultiplyAdd(d, x0v, s00); s01 = V256.MultiplyAdd(d, x1v, s01);
            if (four)
            {
                s02 = V256.MultiplyAdd(d, x2v, s02); s03 = V256.MultiplyAdd(d, x3v, s03);
            }

            d = (dg = dg.At(pitch)).Load<V256, Vector256<float>>(0);
            s10 = V256.MultiplyAdd(d, x0v, s10); s11 = V256.MultiplyAdd(d, x1v, s11);
            if (four)
            {
                s12 = V256.MultiplyAdd(d, x2v, s12); s13 = V256.MultiplyAdd(d, x3v, s13);
            }

            d = (dg = dg.At(pitch)).Load<V256, Vector256<float>>(0);
            s20 = V256.MultiplyAdd(d, x0v, s20); s21 = V256.MultiplyAdd(d, x1v, s21);
            if (four)
            {
                s22 = V256.MultiplyAdd(d, x2v, s22); s23 = V256.MultiplyAdd(d, x3v, s23);
            }

            d = (dg = dg.At(pitch)).Load<V256, Vector256<float>>(0);
            s30 = V256.MultiplyAdd(d, x0v, s30); s31 = V256.MultiplyAdd(d, x1v, s31);
            if (four)
            {
                s32 = V256.MultiplyAdd(d, x2v, s32); s33 = V256.MultiplyAdd(d, x3v, s33);
            }

            d = (dg = dg.At(pitch)).Load<V256, Vector256<float>>(0);
            s40 = V256.MultiplyAdd(d, x0v, s40); s41 = V256.MultiplyAdd(d, x1v, s41);
            if (four)
            {
                s42 = V256.MultiplyAdd(d, x2v, s42); s43 = V256.MultiplyAdd(d, x3v, s43);
            }

            d = dg.At(pitch).Load<V256, Vector256<float>>(0);
            s50 = V256.MultiplyAdd(d, x0v, s50); s51 = V256.MultiplyAdd(d, x1v, s51);
            if (four)
            {
                s52 = V256.MultiplyAdd(d, x2v, s52); s53 = V256.MultiplyAdd(d, x3v, s53);
            }
        }

        int valid = Math.Min(TTaps.Count, terms - q);
        AddSums(dw6, q, 0, valid, s00, s01, s02, s03);
        AddSums(dw6, q, 1, valid, s10, s11, s12, s13);
        AddSums(dw6, q, 2, valid, s20, s21, s22, s23);
        AddSums(dw6, q, 3, valid, s30, s31, s32, s33);
        AddSums(dw6, q, 4, valid, s40, s41, s42, s43);
        AddSums(dw6, q, 5, valid, s50, s51, s52, s53);
    }

    // dw6 is (q, 6): dw6[q + i, r] += the folded lanes of s_i
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddSums(Span<float> dw6, int q, int r, int valid, Vector256<float> s0, Vector256<float> s1, Vector256<float> s2, Vector256<float> s3)
    {
        dw6[q * Channels + r] += Fold(s0);
        if (valid > 1)
        {
            dw6[(q + 1) * Channels + r] += Fold(s1);
        }

        if (valid > 2)
        {
            dw6[(q + 2) * Channels + r] += Fold(s2);
        }

        if (valid > 3)
        {
            dw6[(q + 3) * Channels + r] += Fold(s3);
        }
    }

    /// <summary>The 8 lanes summed in the contract's order: l + (l + 4), then + 2, then + 1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Fold(Vector256<float> s)
    {
        Vector128<float> half = s.GetLower() + s.GetUpper();
        return (half.GetElement(0) + half.GetElement(2)) + (half.GetElement(1) + half.GetElement(3));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Put<TOps, TVec>(Cursor y, int row, int grid, int lanes, int channels, TVec a, TVec b)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct
    {
        if (row < channels)
        {
            y.Store<TOps, TVec>(a, row * grid);
            y.Store<TOps, TVec>(b, (row * grid) + lanes);
        }
    }
}

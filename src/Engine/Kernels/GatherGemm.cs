using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace CnnCluster.Engine.Kernels;

/// <summary>
/// The engine's one matrix-product microkernel, for products whose left operand is gathered from an
/// image ("implicit im2col"): for 8 rows r at once and each L-lane vector v of the output row,
///   C[r, v] (+)= Σ_t A[rowBase[r] + offset[t]] · B[t, v]
/// The 8 row accumulators stay in registers; per step of t it loads one vector of B and broadcasts one
/// A value per row. The convolution passes are this kernel with different tables: forward (rows are
/// output positions, t runs over the patch), kernel gradient (rows are patch entries, t runs over
/// positions) and input delta (rows are positions, t runs over output channels).
/// Summation order over t is fixed, so results are reproducible bit for bit.
/// </summary>
internal static class GatherGemm
{
    public const int Rows = 8;

    /// <summary>
    /// The kernel over <paramref name="vectors"/> vectors of the logical <paramref name="width"/>, run on
    /// this CPU's registers of that width or narrower: every lane is its own sum, so the bits do not depend on it.
    /// </summary>
    public static void Tile(VectorWidth width, ReadOnlySpan<float> a, ReadOnlySpan<int> rowBase, ReadOnlySpan<int> offsets, ReadOnlySpan<float> b, int ldb, int vectors, Span<float> c, int ldc, int validRows, bool accumulate)
    {
        VectorWidth physical = Simd.Physical(width);
        vectors *= (int)width / (int)physical;
        switch (physical)
        {
            case VectorWidth.W512:
                Tile<V512, Vector512<float>>(a, rowBase, offsets, b, ldb, vectors, c, ldc, validRows, accumulate);
                break;
            case VectorWidth.W256:
                Tile<V256, Vector256<float>>(a, rowBase, offsets, b, ldb, vectors, c, ldc, validRows, accumulate);
                break;
            default:
                Tile<V128, Vector128<float>>(a, rowBase, offsets, b, ldb, vectors, c, ldc, validRows, accumulate);
                break;
        }
    }

    /// <param name="a">The gathered operand (e.g. a padded image).</param>
    /// <param name="rowBase">8 row bases into <paramref name="a"/> (repeat a valid one past <paramref name="validRows"/>).</param>
    /// <param name="offsets">T ascending offsets added to every row base: the contraction.</param>
    /// <param name="b">(T, ldb): row t holds the <paramref name="vectors"/> vectors of B.</param>
    /// <param name="c">Row r of the output at c[r·ldc]; only the first <paramref name="validRows"/> are written.</param>
    /// <param name="accumulate">Add into C (true) or overwrite it (false).</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile<TOps, TVec>(ReadOnlySpan<float> a, ReadOnlySpan<int> rowBase, ReadOnlySpan<int> offsets, ReadOnlySpan<float> b, int ldb, int vectors, Span<float> c, int ldc, int validRows, bool accumulate)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct
    {
        int lanes = TOps.Count;
        int maxRow = Math.Max(Math.Max(Math.Max(rowBase[0], rowBase[1]), Math.Max(rowBase[2], rowBase[3])), Math.Max(Math.Max(rowBase[4], rowBase[5]), Math.Max(rowBase[6], rowBase[7])));
        int minRow = Math.Min(Math.Min(Math.Min(rowBase[0], rowBase[1]), Math.Min(rowBase[2], rowBase[3])), Math.Min(Math.Min(rowBase[4], rowBase[5]), Math.Min(rowBase[6], rowBase[7])));
        // offsets ascend (the callers' tables do), so the first and last bound every gathered read
        if (offsets.IsEmpty || vectors < 1 || validRows is < 1 or > Rows || ldb < vectors * lanes || ldc < vectors * lanes
            || (long)minRow + offsets[0] < 0 || (long)maxRow + offsets[^1] >= a.Length
            || b.Length < ((long)(offsets.Length - 1) * ldb) + (vectors * lanes) || c.Length < ((long)(validRows - 1) * ldc) + (vectors * lanes))
        {
            throw new ArgumentException("tile operands out of range");
        }

        Mem.RequireAscending(offsets);

        int r0 = rowBase[0], r1 = rowBase[1], r2 = rowBase[2], r3 = rowBase[3], r4 = rowBase[4], r5 = rowBase[5], r6 = rowBase[6], r7 = rowBase[7];
        int terms = offsets.Length;
        var a0 = new Cursor(a);
        var b0 = new Cursor(b);
        var c0 = new Cursor(c);
        int v = 0;

        // with 32 vector registers (AVX-512), two vectors of C per pass: 16 accumulators, half the broadcasts per FMA
        if (TOps.Count == 16)
        {
            for (; v + 1 < vectors; v += 2)
            {
                TVec s0 = TOps.Zero, s1 = TOps.Zero, s2 = TOps.Zero, s3 = TOps.Zero, s4 = TOps.Zero, s5 = TOps.Zero, s6 = TOps.Zero, s7 = TOps.Zero;
                TVec u0 = TOps.Zero, u1 = TOps.Zero, u2 = TOps.Zero, u3 = TOps.Zero, u4 = TOps.Zero, u5 = TOps.Zero, u6 = TOps.Zero, u7 = TOps.Zero;
                Cursor bv = b0.At(v * lanes);
                for (int t = 0; t < terms; t++)
                {
                    Cursor bt = bv.At(t * ldb), at = a0.At(Mem.Get(offsets, t));
                    TVec p = bt.Load<TOps, TVec>(0), q = bt.Load<TOps, TVec>(lanes);
                    TVec x = TOps.Broadcast(at.Get(r0));
                    s0 = TOps.MultiplyAdd(x, p, s0); u0 = TOps.MultiplyAdd(x, q, u0);
                    x = TOps.Broadcast(at.Get(r1));
                    s1 = TOps.MultiplyAdd(x, p, s1); u1 = TOps.MultiplyAdd(x, q, u1);
                    x = TOps.Broadcast(at.Get(r2));
                    s2 = TOps.MultiplyAdd(x, p, s2); u2 = TOps.MultiplyAdd(x, q, u2);
                    x = TOps.Broadcast(at.Get(r3));
                    s3 = TOps.MultiplyAdd(x, p, s3); u3 = TOps.MultiplyAdd(x, q, u3);
                    x = TOps.Broadcast(at.Get(r4));
                    s4 = TOps.MultiplyAdd(x, p, s4); u4 = TOps.MultiplyAdd(x, q, u4);
                    x = TOps.Broadcast(at.Get(r5));
                    s5 = TOps.MultiplyAdd(x, p, s5); u5 = TOps.MultiplyAdd(x, q, u5);
                    x = TOps.Broadcast(at.Get(r6));
                    s6 = TOps.MultiplyAdd(x, p, s6); u6 = TOps.MultiplyAdd(x, q, u6);
                    x = TOps.Broadcast(at.Get(r7));
                    s7 = TOps.MultiplyAdd(x, p, s7); u7 = TOps.MultiplyAdd(x, q, u7);
                }

                Cursor cv = c0.At(v * lanes);
                PutPair<TOps, TVec>(cv, lanes, 0, ldc, validRows, accumulate, s0, u0);
                PutPair<TOps, TVec>(cv, lanes, 1, ldc, validRows, accumulate, s1, u1);
                PutPair<TOps, TVec>(cv, lanes, 2, ldc, validRows, accumulate, s2, u2);
                PutPair<TOps, TVec>(cv, lanes, 3, ldc, validRows, accumulate, s3, u3);
                PutPair<TOps, TVec>(cv, lanes, 4, ldc, validRows, accumulate, s4, u4);
                PutPair<TOps, TVec>(cv, lanes, 5, ldc, validRows, accumulate, s5, u5);
                PutPair<TOps, TVec>(cv, lanes, 6, ldc, validRows, accumulate, s6, u6);
                PutPair<TOps, TVec>(cv, lanes, 7, ldc, validRows, accumulate, s7, u7);
            }
        }

        // with 16 vector registers (AVX2), two vectors of C per pass over half the rows: 8 accumulators, each broadcast
        // feeding two FMAs. The 8-row, one-vector loop below loads once per FMA (a B vector and 8 broadcasts for 8),
        // which bounds it near half of peak on 256-bit machines; here it is 6 loads for 8. Same sums, same order.
        if (TOps.Count == 8)
        {
            // three vectors where they come in threes (48 or 96 channels): 12 accumulators, 7 loads for 12 FMAs
            for (; v + 2 < vectors && vectors - v != 4; v += 3)
            {
                Cursor bv = b0.At(v * lanes), cv = c0.At(v * lanes);
                FourRows<TOps, TVec, Three>(a0, bv, offsets, ldb, r0, r1, r2, r3, cv, 0, ldc, validRows, accumulate);
                FourRows<TOps, TVec, Three>(a0, bv, offsets, ldb, r4, r5, r6, r7, cv, 4, ldc, validRows, accumulate);
            }

            for (; v + 1 < vectors; v += 2)
            {
                Cursor bv = b0.At(v * lanes), cv = c0.At(v * lanes);
                FourRows<TOps, TVec, Two>(a0, bv, offsets, ldb, r0, r1, r2, r3, cv, 0, ldc, validRows, accumulate);
                FourRows<TOps, TVec, Two>(a0, bv, offsets, ldb, r4, r5, r6, r7, cv, 4, ldc, validRows, accumulate);
            }
        }

        for (; v < vectors; v++)
        {
            EightRows<TOps, TVec>(a0, b0.At(v * lanes), offsets, ldb, r0, r1, r2, r3, r4, r5, r6, r7, c0.At(v * lanes), ldc, validRows, accumulate);
        }
    }

    // rows 0..7 (their bases r0..r7) of one vector of C: C[row, v] (+)= Σ_t A[base + offset[t]] · B[t, v]; in a method of
    // its own, with a cursor per row, for the reason FourRows is
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void EightRows<TOps, TVec>(Cursor a0, Cursor bv, ReadOnlySpan<int> offsets, int ldb, int r0, int r1, int r2, int r3, int r4, int r5, int r6, int r7, Cursor cv, int ldc, int validRows, bool accumulate)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct
    {
        TVec s0 = TOps.Zero, s1 = TOps.Zero, s2 = TOps.Zero, s3 = TOps.Zero, s4 = TOps.Zero, s5 = TOps.Zero, s6 = TOps.Zero, s7 = TOps.Zero;
        Cursor p0 = a0.At(r0), p1 = a0.At(r1), p2 = a0.At(r2), p3 = a0.At(r3), p4 = a0.At(r4), p5 = a0.At(r5), p6 = a0.At(r6), p7 = a0.At(r7), bt = bv;
        int last = offsets.Length - 1;
        nint pitch = ldb;
        for (int t = 0; ; t++)
        {
            int o = Mem.Get(offsets, t);
            TVec b = bt.Load<TOps, TVec>(0);
            s0 = TOps.MultiplyAdd(TOps.Broadcast(p0.Get(o)), b, s0);
            s1 = TOps.MultiplyAdd(TOps.Broadcast(p1.Get(o)), b, s1);
            s2 = TOps.MultiplyAdd(TOps.Broadcast(p2.Get(o)), b, s2);
            s3 = TOps.MultiplyAdd(TOps.Broadcast(p3.Get(o)), b, s3);
            s4 = TOps.MultiplyAdd(TOps.Broadcast(p4.Get(o)), b, s4);
            s5 = TOps.MultiplyAdd(TOps.Broadcast(p5.Get(o)), b, s5);
            s6 = TOps.MultiplyAdd(TOps.Broadcast(p6.Get(o)), b, s6);
            s7 = TOps.MultiplyAdd(TOps.Broadcast(p7.Get(o)), b, s7);
            if (t == last)
            {
                break;
            }

            bt = bt.At(pitch);
        }

        Put<TOps, TVec>(cv, 0, ldc, validRows, accumulate, s0);
        Put<TOps, TVec>(cv, 1, ldc, validRows, accumulate, s1);
        Put<TOps, TVec>(cv, 2, ldc, validRows, accumulate, s2);
        Put<TOps, TVec>(cv, 3, ldc, validRows, accumulate, s3);
        Put<TOps, TVec>(cv, 4, ldc, validRows, accumulate, s4);
        Put<TOps, TVec>(cv, 5, ldc, validRows, accumulate, s5);
        Put<TOps, TVec>(cv, 6, ldc, validRows, accumulate, s6);
        Put<TOps, TVec>(cv, 7, ldc, validRows, accumulate, s7);
    }

    // rows first..first+3 (their bases ra..rd) of TColumns.Count (2 or 3) vectors of C:
    //   C[row, v..] (+)= Σ_t A[base + offset[t]] · B[t, v..]
    // 8 or 12 sums in 16 registers, each broadcast feeding 2 or 3 FMAs (6 loads for 8, 7 for 12). Not inlined: in a
    // method of its own the JIT keeps the four row cursors in registers (inlined into Tile they were spilled to the
    // stack, a load more per broadcast); B's row t is stepped by its pitch after the step's loads (the loop is bound
    // by issue, not by its FMAs). The column count is a type, so each form is compiled without the other's branches.
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void FourRows<TOps, TVec, TColumns>(Cursor a0, Cursor bv, ReadOnlySpan<int> offsets, int ldb, int ra, int rb, int rc, int rd, Cursor cv, int first, int ldc, int validRows, bool accumulate)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct
        where TColumns : struct, IColumns
    {
        if (first >= validRows)
        {
            return; // nothing of these rows is written
        }

        bool three = TColumns.Count == 3;
        TVec s0 = TOps.Zero, s1 = TOps.Zero, s2 = TOps.Zero, s3 = TOps.Zero, u0 = TOps.Zero, u1 = TOps.Zero, u2 = TOps.Zero, u3 = TOps.Zero;
        TVec w0 = TOps.Zero, w1 = TOps.Zero, w2 = TOps.Zero, w3 = TOps.Zero, r = TOps.Zero;
        Cursor pa = a0.At(ra), pb = a0.At(rb), pc = a0.At(rc), pd = a0.At(rd), bt = bv;
        int lanes = TOps.Count, last = offsets.Length - 1;
        nint pitch = ldb;
        for (int t = 0; ; t++)
        {
            int o = Mem.Get(offsets, t);
            TVec p = bt.Load<TOps, TVec>(0), q = bt.Load<TOps, TVec>(lanes);
            if (three)
            {
                r = bt.Load<TOps, TVec>(2 * lanes);
            }

            TVec x = TOps.Broadcast(pa.Get(o));
            s0 = TOps.MultiplyAdd(x, p, s0); u0 = TOps.MultiplyAdd(x, q, u0);
            if (three)
            {
                w0 = TOps.MultiplyAdd(x, r, w0);
            }

            x = TOps.Broadcast(pb.Get(o));
            s1 = TOps.MultiplyAdd(x, p, s1); u1 = TOps.MultiplyAdd(x, q, u1);
            if (three)
            {
                w1 = TOps.MultiplyAdd(x, r, w1);
            }

            x = TOps.Broadcast(pc.Get(o));
            s2 = TOps.MultiplyAdd(x, p, s2); u2 = TOps.MultiplyAdd(x, q, u2);
            if (three)
            {
                w2 = TOps.MultiplyAdd(x, r, w2);
            }

            x = TOps.Broadcast(pd.Get(o));
            s3 = TOps.MultiplyAdd(x, p, s3); u3 = TOps.MultiplyAdd(x, q, u3);
            if (three)
            {
                w3 = TOps.MultiplyAdd(x, r, w3);
            }

            if (t == last)
            {
                break;
            }

            bt = bt.At(pitch);
        }

        PutPair<TOps, TVec>(cv, lanes, first, ldc, validRows, accumulate, s0, u0);
        PutPair<TOps, TVec>(cv, lanes, first + 1, ldc, validRows, accumulate, s1, u1);
        PutPair<TOps, TVec>(cv, lanes, first + 2, ldc, validRows, accumulate, s2, u2);
        PutPair<TOps, TVec>(cv, lanes, first + 3, ldc, validRows, accumulate, s3, u3);
        if (three)
        {
            Cursor third = cv.At(2 * lanes);
            Put<TOps, TVec>(third, first, ldc, validRows, accumulate, w0);
            Put<TOps, TVec>(third, first + 1, ldc, validRows, accumulate, w1);
            Put<TOps, TVec>(third, first + 2, ldc, validRows, accumulate, w2);
            Put<TOps, TVec>(third, first + 3, ldc, validRows, accumulate, w3);
        }
    }

    // row of two adjacent vectors of C: s at c, u one vector further on
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PutPair<TOps, TVec>(Cursor c, int lanes, int row, int ldc, int validRows, bool accumulate, TVec s, TVec u)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct
    {
        Put<TOps, TVec>(c, row, ldc, validRows, accumulate, s);
        Put<TOps, TVec>(c.At(lanes), row, ldc, validRows, accumulate, u);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Put<TOps, TVec>(Cursor c, int row, int ldc, int validRows, bool accumulate, TVec sum)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct
    {
        if (row < validRows)
        {
            int at = row * ldc;
            c.Store<TOps, TVec>(accumulate ? TOps.Add(c.Load<TOps, TVec>(at), sum) : sum, at);
        }
    }

    /// <summary>
    /// The same product written plainly, one output element at a time: the reference the kernel is tested against.
    /// </summary>
    public static void TileReference(ReadOnlySpan<float> a, ReadOnlySpan<int> rowBase, ReadOnlySpan<int> offsets, ReadOnlySpan<float> b, int ldb, int columns, Span<float> c, int ldc, int validRows, bool accumulate)
    {
        for (int r = 0; r < validRows; r++)
        {
            for (int j = 0; j < columns; j++)
            {
                float sum = 0;
                for (int t = 0; t < offsets.Length; t++)
                {
                    sum = MathF.FusedMultiplyAdd(a[rowBase[r] + offsets[t]], b[t * ldb + j], sum);
                }

                c[r * ldc + j] = accumulate ? c[r * ldc + j] + sum : sum;
            }
        }
    }
}

/// <summary>
/// How many vectors of C a pass of <see cref="GatherGemm"/>'s four-row loop holds, or taps a tile of
/// <see cref="SpatialKernels"/>' kernel gradient: a type, so the JIT compiles each form apart, without the other's registers.
/// </summary>
internal interface IColumns
{
    static abstract int Count { get; }
}

internal readonly struct Two : IColumns
{
    public static int Count => 2;
}

internal readonly struct Three : IColumns
{
    public static int Count => 3;
}

internal readonly struct Four : IColumns
{
    public static int Count => 4;
}

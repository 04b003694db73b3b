using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace CnnCluster.Engine.Kernels;

/// <summary>
/// dst[c·dstPitch + r] = src[r·srcPitch + c] for r &lt; rows, c &lt; cols: the move between channels-last tiles and NCHW
/// planes around every convolution. A plain copy of values (no arithmetic), so any order gives the same bits: 8×8
/// blocks transposed in registers where AVX is (8 loads, 24 shuffles, 8 stores for 64 values, against 64 strided
/// loads), the plain loop for the edges and elsewhere. Tested against <see cref="Layout.Plain"/>.
/// </summary>
internal static class Transpose
{
    public static void Copy(ReadOnlySpan<float> src, int srcPitch, Span<float> dst, int dstPitch, int rows, int cols)
    {
        if (rows < 1 || cols < 1)
        {
            return;
        }

        if ((long)(rows - 1) * srcPitch + cols - 1 >= src.Length || (long)(cols - 1) * dstPitch + rows - 1 >= dst.Length)
        {
            throw new ArgumentException("transpose out of range");
        }

        int r8 = 0, c8 = 0;
        if (Avx.IsSupported && rows >= 8 && cols >= 8)
        {
            var s = new Cursor(src);
            var d = new Cursor(dst);
            for (r8 = 0; r8 + 8 <= rows; r8 += 8)
            {
                for (c8 = 0; c8 + 8 <= cols; c8 += 8)
                {
                    Block(s.At((r8 * srcPitch) + c8), srcPitch, d.At((c8 * dstPitch) + r8), dstPitch);
                }
            }
        }

        // the edges: rows past the last whole block (every column), columns past it (the blocks' rows)
        Plain(src, srcPitch, dst, dstPitch, r8, rows, 0, cols);
        Plain(src, srcPitch, dst, dstPitch, 0, r8, c8, cols);
    }

    private static void Plain(ReadOnlySpan<float> src, int srcPitch, Span<float> dst, int dstPitch, int r0, int r1, int c0, int c1)
    {
        var s = new Cursor(src);
        var d = new Cursor(dst);
        for (int c = c0; c < c1; c++)
        {
            Cursor dc = d.At(c * dstPitch);
            for (int r = r0; r < r1; r++)
            {
                dc.Set(r, s.Get((r * srcPitch) + c));
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Block(Cursor s, int srcPitch, Cursor d, int dstPitch)
    {
        Vector256<float> r0 = s.Load<V256, Vector256<float>>(0), r1 = s.Load<V256, Vector256<float>>(srcPitch);
        Vector256<float> r2 = s.Load<V256, Vector256<float>>(2 * srcPitch), r3 = s.Load<V256, Vector256<float>>(3 * srcPitch);
        Vector256<float> r4 = s.Load<V256, Vector256<float>>(4 * srcPitch), r5 = s.Load<V256, Vector256<float>>(5 * srcPitch);
        Vector256<float> r6 = s.Load<V256, Vector256<float>>(6 * srcPitch), r7 = s.Load<V256, Vector256<float>>(7 * srcPitch);

        // pairs of rows interleaved: t0 = (a0 b0 a1 b1 | a4 b4 a5 b5), t1 = (a2 b2 a3 b3 | a6 b6 a7 b7), ...
        Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1);
        Vector256<float> t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
        Vector256<float> t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5);
        Vector256<float> t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);

        // quadruples: u0 = (a0 b0 c0 d0 | a4 b4 c4 d4), u1 = (a1 b1 c1 d1 | a5 ...), ...
        Vector256<float> u0 = Avx.Shuffle(t0, t2, 0x44), u1 = Avx.Shuffle(t0, t2, 0xEE);
        Vector256<float> u2 = Avx.Shuffle(t1, t3, 0x44), u3 = Avx.Shuffle(t1, t3, 0xEE);
        Vector256<float> u4 = Avx.Shuffle(t4, t6, 0x44), u5 = Avx.Shuffle(t4, t6, 0xEE);
        Vector256<float> u6 = Avx.Shuffle(t5, t7, 0x44), u7 = Avx.Shuffle(t5, t7, 0xEE);

        // the halves joined: column j of the block is row j of the result
        d.Store<V256, Vector256<float>>(Avx.Permute2x128(u0, u4, 0x20), 0);
        d.Store<V256, Vector256<float>>(Avx.Permute2x128(u1, u5, 0x20), dstPitch);
        d.Store<V256, Vector256<float>>(Avx.Permute2x128(u2, u6, 0x20), 2 * dstPitch);
        d.Store<V256, Vector256<float>>(Avx.Permute2x128(u3, u7, 0x20), 3 * dstPitch);
        d.Store<V256, Vector256<float>>(Avx.Permute2x128(u0, u4, 0x31), 4 * dstPitch);
        d.Store<V256, Vector256<float>>(Avx.Permute2x128(u1, u5, 0x31), 5 * dstPitch);
        d.Store<V256, Vector256<float>>(Avx.Permute2x128(u2, u6, 0x31), 6 * dstPitch);
        d.Store<V256, Vector256<float>>(Avx.Permute2x128(u3, u7, 0x31), 7 * dstPitch);
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace CnnCluster.Engine.Kernels;

/// <summary>Moves between the layouts the kernels use (NCHW outside, channels-last or samples-in-lanes inside), and their gather tables.</summary>
internal static class Layout
{
    /// <summary>dst[o·dstOuter + i·dstInner] = src[o·srcOuter + i·srcInner] for o &lt; outer, i &lt; inner: the transposes between layouts.</summary>
    public static void StridedCopy(ReadOnlySpan<float> src, int srcOuter, int srcInner, Span<float> dst, int dstOuter, int dstInner, int outer, int inner)
    {
        if (outer < 1 || inner < 1)
        {
            return;
        }

        if ((long)(outer - 1) * srcOuter + ((long)(inner - 1) * srcInner) >= src.Length || (long)(outer - 1) * dstOuter + ((long)(inner - 1) * dstInner) >= dst.Length)
        {
            throw new ArgumentException("strided copy out of range");
        }

        if (srcOuter == 1 && dstInner == 1)
        {
            Transpose.Copy(src, srcInner, dst, dstOuter, rows: inner, cols: outer); // dst[o, i] = src[i, o]
            return;
        }

        if (srcInner == 1 && dstOuter == 1)
        {
            Transpose.Copy(src, srcOuter, dst, dstInner, rows: outer, cols: inner);
            return;
        }

        Plain(src, srcOuter, srcInner, dst, dstOuter, dstInner, outer, inner);
    }

    /// <summary><see cref="StridedCopy"/> one value at a time: the reference of <see cref="Transpose"/>.</summary>
    internal static void Plain(ReadOnlySpan<float> src, int srcOuter, int srcInner, Span<float> dst, int dstOuter, int dstInner, int outer, int inner)
    {
        var s0 = new Cursor(src);
        var d0 = new Cursor(dst);
        for (int o = 0; o < outer; o++)
        {
            Cursor s = s0.At(o * srcOuter), d = d0.At(o * dstOuter);
            for (int i = 0; i < inner; i++)
            {
                d.Set(i * dstInner, s.Get(i * srcInner));
            }
        }
    }

    /// <summary>
    /// dst[r·dstPitch + j] = src[r·srcPitch + j] + add for r &lt; rows, j &lt; width: rows of a grid dropped to their valid
    /// columns with a bias added (one addition each, so the bits do not depend on the vectors). A row's last vector
    /// overlaps the one before it where the width is not a whole number of vectors.
    /// </summary>
    public static void AddRows(ReadOnlySpan<float> src, int srcPitch, Span<float> dst, int dstPitch, int rows, int width, float add)
    {
        if (rows < 1 || width < 1)
        {
            return;
        }

        if ((long)(rows - 1) * srcPitch + width > src.Length || (long)(rows - 1) * dstPitch + width > dst.Length)
        {
            throw new ArgumentException("row copy out of range");
        }

        var s0 = new Cursor(src);
        var d0 = new Cursor(dst);
        if (width >= 8 && System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated)
        {
            AddRows<V256, System.Runtime.Intrinsics.Vector256<float>>(s0, srcPitch, d0, dstPitch, rows, width, add);
        }
        else if (width >= 4)
        {
            AddRows<V128, System.Runtime.Intrinsics.Vector128<float>>(s0, srcPitch, d0, dstPitch, rows, width, add);
        }
        else
        {
            for (int r = 0; r < rows; r++)
            {
                Cursor s = s0.At(r * srcPitch), d = d0.At(r * dstPitch);
                for (int j = 0; j < width; j++)
                {
                    d.Set(j, s.Get(j) + add);
                }
            }
        }
    }

    private static void AddRows<TOps, TVec>(Cursor s0, int srcPitch, Cursor d0, int dstPitch, int rows, int width, float add)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct
    {
        int lanes = TOps.Count, last = width - lanes;
        TVec b = TOps.Broadcast(add);
        for (int r = 0; r < rows; r++)
        {
            Cursor s = s0.At(r * srcPitch), d = d0.At(r * dstPitch);
            for (int j = 0; j < last; j += lanes)
            {
                d.Store<TOps, TVec>(TOps.Add(s.Load<TOps, TVec>(j), b), j);
            }

            d.Store<TOps, TVec>(TOps.Add(s.Load<TOps, TVec>(last), b), last);
        }
    }

    /// <summary>A <see cref="GatherGemm"/> row table: <paramref name="count"/> rows padded to whole tiles by repeating the last row.</summary>
    public static int[] RowTable(int count, Func<int, int> value)
    {
        var table = new int[(count + GatherGemm.Rows - 1) / GatherGemm.Rows * GatherGemm.Rows];
        for (int i = 0; i < table.Length; i++)
        {
            table[i] = value(Math.Min(i, count - 1));
        }

        return table;
    }
}

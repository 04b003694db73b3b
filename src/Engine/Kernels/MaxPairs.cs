using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace CnnCluster.Engine.Kernels;

/// <summary>
/// Where one row of 2×2 windows is read and how its argmax is named: the top-left input of the row's first window
/// at <see cref="Start"/> with the bottom row <see cref="Pitch"/> further on; the argmax of a window is its input's
/// index in another layout, <see cref="IndexStart"/> for that first input and <see cref="IndexPitch"/> from a top
/// input to the one below it (the same as the read layout for a pool layer; a conv's output planes when the pool reads
/// a conv's grid). With <see cref="Relu"/>, each candidate is first max(v + <see cref="Bias"/>, 0) as a bias and
/// a ReLU layer would have made it (TensorPrimitives.Max: +0 for −0, a NaN kept).
/// </summary>
internal readonly record struct PoolRow(int Start, int Pitch, int IndexStart, int IndexPitch, bool Relu, float Bias)
{
    /// <summary>A pool layer's row: read and named in the same layout, the values as they are.</summary>
    public PoolRow(int start, int pitch)
        : this(start, pitch, start, pitch, false, 0f)
    {
    }

    /// <summary>One candidate as the window compares it.</summary>
    public float Prepare(float v)
    {
        if (!Relu)
        {
            return v;
        }

        v += Bias;
        return v > 0f || float.IsNaN(v) ? v : 0f;
    }
}

/// <summary>
/// The 2×2 max-pool forward of one output row, 4 windows per step: the two input rows are loaded as
/// 8-lane vectors, split into even and odd columns, and the window's four candidates compared in
/// window order with the scalar loop's rule (strictly greater, or a NaN over a number), so results
/// and argmax are the same as the scalar form. A row whose width is not a multiple of 4 ends with one
/// step over its last 4 windows, overlapping the step before (those windows are written twice, with the
/// same values): the scalar form, whose NaN checks branch on every candidate, was most of the time of a
/// 14-window row (convnet's and lenet5's first pooling). A row of fewer than 4 windows spills (see <see cref="Row"/>).
/// </summary>
internal static class MaxPairs
{
    /// <summary>The pool's rule, one candidate at a time: v takes the window from best where greater, or a NaN over a number.</summary>
    public static bool Beats(float v, float best) => v > best || (float.IsNaN(v) && !float.IsNaN(best));

    private static readonly Vector256<int> EvenOdd = Vector256.Create(0, 2, 4, 6, 1, 3, 5, 7);

    /// <summary>
    /// Windows [0, returned) of the row; the rest are the caller's. <paramref name="y"/> and <paramref name="argmax"/>
    /// start at the row's first output and run on to the batch's last: a row of fewer than 4 windows is one step whose
    /// last windows spill into the outputs after it (junk, written again by the rows they belong to, which come
    /// later), where there are 4 outputs and 8 inputs per row left.
    /// </summary>
    public static int Row(ReadOnlySpan<float> x, in PoolRow row, int outputs, Span<float> y, Span<int> argmax) =>
        Rows(x, row, 1, 0, 0, outputs, y, argmax, 0);

    /// <summary>
    /// <see cref="Row"/> for <paramref name="count"/> rows in one call: row r read from Start + r·<paramref name="rowStep"/>,
    /// named from IndexStart + r·<paramref name="indexStep"/>, its outputs at r·<paramref name="outputStep"/>; every row
    /// the same windows [0, returned), 0 when the vectors do not fit (the caller's then, all of them).
    /// </summary>
    public static int Rows(ReadOnlySpan<float> x, PoolRow row, int count, int rowStep, int indexStep, int outputs, Span<float> y, Span<int> argmax, int outputStep)
    {
        if (count < 1 || outputs < 1)
        {
            return 0;
        }

        long lastOutput = ((long)(count - 1) * outputStep) + Math.Max(outputs, 4);
        long lastRead = row.Start + ((long)(count - 1) * rowStep) + row.Pitch + Math.Max(2 * outputs, 8);
        if (!Vector256.IsHardwareAccelerated || row.Start < 0 || lastRead > x.Length || lastOutput > y.Length || lastOutput > argmax.Length)
        {
            if ((long)(count - 1) * outputStep + outputs > Math.Min(y.Length, argmax.Length))
            {
                throw new ArgumentException("max-pool row outputs shorter than the rows");
            }

            return 0;
        }

        // the row's description in registers, not read again through a reference at every step
        var prep = new Prep(row.Relu, Vector256.Create(row.Bias));
        int pitch = row.Pitch, namePitch = row.IndexPitch;
        Cursor x0 = new(x), y0 = new(y), i0 = new(MemoryMarshal.Cast<int, float>(argmax));
        bool eights = Avx2.IsSupported && outputs >= 8;
        for (int r = 0; r < count; r++)
        {
            Cursor top = x0.At(row.Start + (r * rowStep)), ys = y0.At(r * outputStep), indices = i0.At(r * outputStep);
            int name = row.IndexStart + (r * indexStep);
            if (outputs < 4)
            {
                Four(top, ys, indices, pitch, name, namePitch, prep, 0);
            }
            else if (eights)
            {
                // 8 windows a step; a last partial step overlaps the one before it (same values written twice)
                int done = 0;
                for (; done + 8 <= outputs; done += 8)
                {
                    Eight(top, ys, indices, pitch, name, namePitch, prep, done);
                }

                if (done < outputs)
                {
                    Eight(top, ys, indices, pitch, name, namePitch, prep, outputs - 8);
                }
            }
            else
            {
                int done = 0;
                for (; done + 4 <= outputs; done += 4)
                {
                    Four(top, ys, indices, pitch, name, namePitch, prep, done);
                }

                if (done < outputs)
                {
                    Four(top, ys, indices, pitch, name, namePitch, prep, outputs - 4);
                }
            }
        }

        return outputs;
    }

    // what a candidate goes through before the comparison: as it is, or + bias and the ReLU
    private readonly record struct Prep(bool Relu, Vector256<float> Bias);

    // windows [first, first + 4) of the row
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Four(Cursor top, Cursor ys, Cursor indices, int pitch, int name, int namePitch, Prep prep, int first)
    {
        Vector256<float> r0 = EvenThenOdd(Prepare(top.Load<V256, Vector256<float>>(2 * first), prep));
        Vector256<float> r1 = EvenThenOdd(Prepare(top.Load<V256, Vector256<float>>(pitch + (2 * first)), prep));
        Vector128<float> m = r0.GetLower();
        Vector128<int> at = Vector128<int>.Zero;
        Take(r0.GetUpper(), 1, ref m, ref at);
        Take(r1.GetLower(), namePitch, ref m, ref at);
        Take(r1.GetUpper(), namePitch + 1, ref m, ref at);
        ys.Store<V128, Vector128<float>>(m, first);
        indices.Store<V128, Vector128<float>>((at + Vector128.Create(0, 2, 4, 6) + Vector128.Create(name + (2 * first))).AsSingle(), first);
    }

    // windows [first, first + 8) of the row: the four candidates of each as 8-lane vectors, compared in window order
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Eight(Cursor top, Cursor ys, Cursor indices, int pitch, int name, int namePitch, Prep prep, int first)
    {
        (Vector256<float> topLeft, Vector256<float> topRight) = Split(top, 2 * first, prep);
        (Vector256<float> bottomLeft, Vector256<float> bottomRight) = Split(top, pitch + (2 * first), prep);
        Vector256<float> m = topLeft;
        Vector256<int> at = Vector256<int>.Zero;
        Take(topRight, 1, ref m, ref at);
        Take(bottomLeft, namePitch, ref m, ref at);
        Take(bottomRight, namePitch + 1, ref m, ref at);
        ys.Store<V256, Vector256<float>>(m, first);
        indices.Store<V256, Vector256<float>>((at + Vector256.Create(0, 2, 4, 6, 8, 10, 12, 14) + Vector256.Create(name + (2 * first))).AsSingle(), first);
    }

    // 16 inputs from x[at]: the windows' left columns (x0 x2 .. x14) and right columns (x1 x3 .. x15)
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<float> Left, Vector256<float> Right) Split(Cursor x, int at, Prep prep)
    {
        Vector256<float> a = EvenThenOdd(Prepare(x.Load<V256, Vector256<float>>(at), prep)), b = EvenThenOdd(Prepare(x.Load<V256, Vector256<float>>(at + 8), prep));
        return (Avx.Permute2x128(a, b, 0x20), Avx.Permute2x128(a, b, 0x31));
    }

    // the candidates as the window compares them: max(v + bias, 0) for a conv's grid read through a ReLU, else v
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Prepare(Vector256<float> v, Prep prep)
    {
        if (!prep.Relu)
        {
            return v;
        }

        v += prep.Bias;
        Vector256<float> keep = Vector256.GreaterThan(v, Vector256<float>.Zero) | ~Vector256.Equals(v, v);
        return keep & v;
    }

    // m, at ← v, offset where v > m, or v is NaN and m is not (8 windows)
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Take(Vector256<float> v, int offset, ref Vector256<float> m, ref Vector256<int> at)
    {
        Vector256<float> vIsNumber = Vector256.Equals(v, v), mIsNumber = Vector256.Equals(m, m);
        Vector256<float> higher = Vector256.GreaterThan(v, m) | Vector256.AndNot(mIsNumber, vIsNumber);
        m = Vector256.ConditionalSelect(higher, v, m);
        at = Vector256.ConditionalSelect(higher.AsInt32(), Vector256.Create(offset), at);
    }

    // (x0 x2 x4 x6 | x1 x3 x5 x7): one permute where AVX2 is (Vector256.Shuffle with indices from a field is not one)
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> EvenThenOdd(Vector256<float> v) =>
        Avx2.IsSupported ? Avx2.PermuteVar8x32(v, EvenOdd) : Vector256.Shuffle(v, EvenOdd);

    // m, at ← v, offset where v > m, or v is NaN and m is not
    private static void Take(Vector128<float> v, int offset, ref Vector128<float> m, ref Vector128<int> at)
    {
        Vector128<float> vIsNumber = Vector128.Equals(v, v), mIsNumber = Vector128.Equals(m, m);
        Vector128<float> higher = Vector128.GreaterThan(v, m) | Vector128.AndNot(mIsNumber, vIsNumber);
        m = Vector128.ConditionalSelect(higher, v, m);
        at = Vector128.ConditionalSelect(higher.AsInt32(), Vector128.Create(offset), at);
    }
}

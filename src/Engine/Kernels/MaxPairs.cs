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

        return row.Relu
            ? Rows<BiasRelu>(x, row, count, rowStep, indexStep, outputs, y, argmax, outputStep)
            : Rows<AsIs>(x, row, count, rowStep, indexStep, outputs, y, argmax, outputStep);
    }

    // the rows once checked; the candidates' preparation a type, so no step branches on it
    private static int Rows<TPrep>(ReadOnlySpan<float> x, PoolRow row, int count, int rowStep, int indexStep, int outputs, Span<float> y, Span<int> argmax, int outputStep)
        where TPrep : struct, IPrepare
    {
        Vector256<float> bias = Vector256.Create(row.Bias); // the row's description in registers, not read again at every step
        int pitch = row.Pitch, namePitch = row.IndexPitch;
        Cursor x0 = new(x), y0 = new(y), i0 = new(MemoryMarshal.Cast<int, float>(argmax));
        bool eights = Avx2.IsSupported && outputs >= 8;
        for (int r = 0; r < count; r++)
        {
            Cursor top = x0.At(row.Start + (r * rowStep)), ys = y0.At(r * outputStep), indices = i0.At(r * outputStep);
            int name = row.IndexStart + (r * indexStep);
            if (outputs < 4)
            {
                Four<TPrep>(top, ys, indices, pitch, name, namePitch, bias, 0);
            }
            else if (eights)
            {
                // 8 windows a step; a last partial step overlaps the one before it (same values written twice)
                int done = 0;
                for (; done + 8 <= outputs; done += 8)
                {
                    Eight<TPrep>(top, ys, indices, pitch, name, namePitch, bias, done);
                }

                if (done < outputs)
                {
                    Eight<TPrep>(top, ys, indices, pitch, name, namePitch, bias, outputs - 8);
                }
            }
            else
            {
                int done = 0;
                for (; done + 4 <= outputs; done += 4)
                {
                    Four<TPrep>(top, ys, indices, pitch, name, namePitch, bias, done);
                }

                if (done < outputs)
                {
                    Four<TPrep>(top, ys, indices, pitch, name, namePitch, bias, outputs - 4);
                }
            }
        }

        return outputs;
    }

    // windows [first, first + 4) of the row
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Four<TPrep>(Cursor top, Cursor ys, Cursor indices, int pitch, int name, int namePitch, Vector256<float> bias, int first)
        where TPrep : struct, IPrepare
    {
        Vector256<float> r0 = EvenThenOdd(TPrep.Apply(top.Load<V256, Vector256<float>>(2 * first), bias));
        Vector256<float> r1 = EvenThenOdd(TPrep.Apply(top.Load<V256, Vector256<float>>(pitch + (2 * first)), bias));
        Vector128<float> m = r0.GetLower();
        Vector128<int> at = Vector128<int>.Zero;
        Take(r0.GetUpper(), 1, ref m, ref at);
        Take(r1.GetLower(), namePitch, ref m, ref at);
        Take(r1.GetUpper(), namePitch + 1, ref m, ref at);
        ys.Store<V128, Vector128<float>>(m, first);
        indices.Store<V128, Vector128<float>>((at + Vector128.Create(0, 2, 4, 6) + Vector128.Create(name + (2 * first))).AsSingle(), first);
    }

    // windows [first, first + 8) of the row (AVX2): 16 inputs of each row as two vectors a, b; one shufps takes the windows'
    // left columns (a0 a2 b0 b2 | a4 a6 b4 b6), another the right ones, so the lanes hold windows 0 1 4 5 2 3 6 7; the four
    // candidates compared in window order; one permute of 64-bit pairs puts the results back in window order
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Eight<TPrep>(Cursor top, Cursor ys, Cursor indices, int pitch, int name, int namePitch, Vector256<float> bias, int first)
        where TPrep : struct, IPrepare
    {
        int at0 = 2 * first;
        Vector256<float> a = TPrep.Apply(top.Load<V256, Vector256<float>>(at0), bias), b = TPrep.Apply(top.Load<V256, Vector256<float>>(at0 + 8), bias);
        Vector256<float> c = TPrep.Apply(top.Load<V256, Vector256<float>>(pitch + at0), bias), d = TPrep.Apply(top.Load<V256, Vector256<float>>(pitch + at0 + 8), bias);
        Vector256<float> m = Avx.Shuffle(a, b, 0x88);
        Vector256<float> at = Vector256<float>.Zero; // window numbers as int bits (0 is +0f)
        Take(Avx.Shuffle(a, b, 0xDD), Vector256.Create(1).AsSingle(), ref m, ref at);
        Take(Avx.Shuffle(c, d, 0x88), Vector256.Create(namePitch).AsSingle(), ref m, ref at);
        Take(Avx.Shuffle(c, d, 0xDD), Vector256.Create(namePitch + 1).AsSingle(), ref m, ref at);
        ys.Store<V256, Vector256<float>>(InWindowOrder(m), first);
        Vector256<int> index = InWindowOrder(at).AsInt32() + Vector256.Create(0, 2, 4, 6, 8, 10, 12, 14) + Vector256.Create(name + at0);
        indices.Store<V256, Vector256<float>>(index.AsSingle(), first);
    }

    // lanes of windows 0 1 4 5 2 3 6 7 back to 0 .. 7: the 64-bit pairs 0 2 1 3
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> InWindowOrder(Vector256<float> v) => Avx2.Permute4x64(v.AsDouble(), 0b11_01_10_00).AsSingle();

    // m, at ← v, offset where v > m, or v is NaN and m is not: "not v ≤ m" is true for v > m and for either a NaN, and a NaN
    // m keeps the window (ordered(m, m) is false); the same rule as the scalar Beats in three instructions and two blends
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Take(Vector256<float> v, Vector256<float> offset, ref Vector256<float> m, ref Vector256<float> at)
    {
        Vector256<float> higher = Avx.And(Avx.CompareNotLessThanOrEqual(v, m), Avx.CompareOrdered(m, m));
        m = Avx.BlendVariable(m, v, higher);
        at = Avx.BlendVariable(at, offset, higher);
    }

    /// <summary>What a candidate goes through before the window compares it.</summary>
    private interface IPrepare
    {
        static abstract Vector256<float> Apply(Vector256<float> v, Vector256<float> bias);
    }

    // a pool layer's input, as it is
    private readonly struct AsIs : IPrepare
    {
        public static Vector256<float> Apply(Vector256<float> v, Vector256<float> bias) => v;
    }

    // a conv's grid read through its bias and a ReLU: max(v + bias, 0) as the ReLU layer makes it (v where v > 0 or v is a
    // NaN, else +0): maxps returns its second operand for a NaN and for equal values, so −0 comes out −0 and + 0 makes it +0
    private readonly struct BiasRelu : IPrepare
    {
        public static Vector256<float> Apply(Vector256<float> v, Vector256<float> bias) =>
            Avx.IsSupported ? Avx.Max(Vector256<float>.Zero, v + bias) + Vector256<float>.Zero : Relu(v + bias);

        private static Vector256<float> Relu(Vector256<float> v)
        {
            Vector256<float> keep = Vector256.GreaterThan(v, Vector256<float>.Zero) | ~Vector256.Equals(v, v);
            return keep & v;
        }
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

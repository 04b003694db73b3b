using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using CnnCluster.Engine.Kernels;
using CnnCluster.Engine.Tensors;

namespace CnnCluster.Engine.Layers;

/// <summary>Non-overlapping n×n windows (stride n); a remainder row or column is dropped, as in PyTorch.</summary>
public abstract class PoolingLayer : Layer
{
    protected PoolingLayer(Shape3 input, int size)
        : base(input, new Shape3(input.C, input.H / size, input.W / size))
    {
        Size = size;
    }

    public int Size { get; }
}

/// <summary>
/// y = max over each n×n window. Forward keeps the argmax (the first maximum in window order; a NaN wins
/// so that divergence propagates) in scratch, and backward routes dy there.
/// </summary>
public sealed class MaxPool2d : PoolingLayer
{
    public MaxPool2d(Shape3 input, int size)
        : base(input, size)
    {
    }

    public override string Kind => "maxpool2d";

    public override int ScratchSize(int n) => n * Output.Size;

    // x is (n, C, H, W), y is (n, C, H/s, W/s); argmax[o] is the index into x that y[o] came from
    public override void Forward(int n, ReadOnlySpan<float> x, Span<float> y, ReadOnlySpan<float> p, Span<float> scratch)
    {
        Span<int> argmax = MemoryMarshal.Cast<float, int>(scratch[..(n * Output.Size)]);
        int planes = n * Input.C, s = Size, oh = Output.H, ow = Output.W, w = Input.W, plane = Input.H * Input.W;
        int o = 0;
        for (int q = 0; q < planes; q++)
        {
            int basePlane = q * plane;
            for (int i = 0; i < oh; i++)
            {
                int j = 0;
                if (s == 2 && Vector256.IsHardwareAccelerated)
                {
                    j = MaxPairs.Row(x, basePlane + (2 * i * w), w, ow, y[o..], argmax[o..]);
                    o += j;
                }

                for (; j < ow; j++, o++)
                {
                    int corner = basePlane + (i * s * w) + (j * s);
                    int best = corner;
                    float m = x[corner];
                    for (int a = 0; a < s; a++)
                    {
                        int row = corner + (a * w);
                        for (int b = 0; b < s; b++)
                        {
                            float v = x[row + b];
                            if (v > m || (float.IsNaN(v) && !float.IsNaN(m)))
                            {
                                m = v;
                                best = row + b;
                            }
                        }
                    }

                    y[o] = m;
                    argmax[o] = best;
                }
            }
        }
    }

    // backward of: y[o] = x[argmax[o]]  →  dx[argmax[o]] += dy[o]
    public override void Backward(int n, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, ReadOnlySpan<float> p, Span<float> g, Span<float> scratch)
    {
        if (dx.IsEmpty)
        {
            return;
        }

        ReadOnlySpan<int> argmax = MemoryMarshal.Cast<float, int>(scratch[..(n * Output.Size)]);
        dx[..(n * Input.Size)].Clear();
        for (int o = 0; o < argmax.Length; o++)
        {
            dx[argmax[o]] += dy[o];
        }
    }

    public override string Describe() => $"maxpool2d {Size}";
}

/// <summary>y = mean over each n×n window. Backward spreads dy / n² over the window.</summary>
public sealed class AvgPool2d : PoolingLayer
{
    public AvgPool2d(Shape3 input, int size)
        : base(input, size)
    {
    }

    public override string Kind => "avgpool2d";

    public override void Forward(int n, ReadOnlySpan<float> x, Span<float> y, ReadOnlySpan<float> p, Span<float> scratch)
    {
        Windows.Down(Input, Size, n * Input.C, x, y, 1f / (Size * Size));
    }

    // backward of: y = down(x) / n²  →  dx = up(dy) / n²
    public override void Backward(int n, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, ReadOnlySpan<float> p, Span<float> g, Span<float> scratch)
    {
        if (!dx.IsEmpty)
        {
            Windows.Up(Input, Size, n * Input.C, dy, dx, 1f / (Size * Size));
        }
    }

    public override string Describe() => $"avgpool2d {Size}";
}

/// <summary>The article's down(·) and up(·) = · ⊗ 1ₙₓₙ over all planes of a batch.</summary>
internal static class Windows
{
    // y[q, i, j] = scale · Σ_{a,b < s} x[q, i·s + a, j·s + b]
    public static void Down(Shape3 input, int s, int planes, ReadOnlySpan<float> x, Span<float> y, float scale)
    {
        int oh = input.H / s, ow = input.W / s;
        for (int q = 0; q < planes; q++)
        {
            ReadOnlySpan<float> xp = x.Slice(q * input.H * input.W, input.H * input.W);
            Span<float> yp = y.Slice(q * oh * ow, oh * ow);
            for (int i = 0; i < oh; i++)
            {
                for (int j = 0; j < ow; j++)
                {
                    float acc = 0f;
                    for (int a = 0; a < s; a++)
                    {
                        ReadOnlySpan<float> row = xp.Slice((i * s + a) * input.W + j * s, s);
                        for (int b = 0; b < s; b++)
                        {
                            acc += row[b];
                        }
                    }

                    yp[i * ow + j] = acc * scale;
                }
            }
        }
    }

    // dx = scale · (dy ⊗ 1ₛₓₛ), the Kronecker upsampling; remainder rows/columns get zero
    public static void Up(Shape3 input, int s, int planes, ReadOnlySpan<float> dy, Span<float> dx, float scale)
    {
        int oh = input.H / s, ow = input.W / s;
        dx[..(planes * input.H * input.W)].Clear();
        for (int q = 0; q < planes; q++)
        {
            Span<float> dxp = dx.Slice(q * input.H * input.W, input.H * input.W);
            ReadOnlySpan<float> dyp = dy.Slice(q * oh * ow, oh * ow);
            for (int i = 0; i < oh; i++)
            {
                for (int a = 0; a < s; a++)
                {
                    Span<float> row = dxp.Slice((i * s + a) * input.W, ow * s);
                    for (int j = 0; j < ow; j++)
                    {
                        row.Slice(j * s, s).Fill(dyp[i * ow + j] * scale);
                    }
                }
            }
        }
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
    private static readonly Vector256<int> EvenOdd = Vector256.Create(0, 2, 4, 6, 1, 3, 5, 7);

    /// <summary>
    /// Windows [0, returned) of the row whose top-left input is x[rowStart]; the rest are the caller's. <paramref name="y"/>
    /// and <paramref name="argmax"/> start at the row's first output and run on to the batch's last: a row of fewer than
    /// 4 windows is one step whose last windows spill into the outputs after it (junk, written again by the rows they
    /// belong to, which come later), where there are 4 outputs and 8 inputs per row left.
    /// </summary>
    public static int Row(ReadOnlySpan<float> x, int rowStart, int w, int outputs, Span<float> y, Span<int> argmax)
    {
        int done = 0;
        if (y.Length < outputs || argmax.Length < outputs)
        {
            throw new ArgumentException("max-pool row outputs shorter than the row");
        }

        if (rowStart + w + Math.Max(2 * outputs, 8) > x.Length || (outputs < 4 && (y.Length < 4 || argmax.Length < 4)))
        {
            return 0;
        }

        Cursor top = new Cursor(x).At(rowStart), ys = new(y), indices = new(MemoryMarshal.Cast<int, float>(argmax));
        if (outputs < 4)
        {
            Four(top, ys, indices, rowStart, w, 0);
            return outputs;
        }

        if (System.Runtime.Intrinsics.X86.Avx2.IsSupported && outputs >= 8)
        {
            // 8 windows a step; a last partial step overlaps the one before it (same values written twice)
            for (; done + 8 <= outputs; done += 8)
            {
                Eight(top, ys, indices, rowStart, w, done);
            }

            if (done < outputs)
            {
                Eight(top, ys, indices, rowStart, w, outputs - 8);
            }

            return outputs;
        }

        for (; done + 4 <= outputs; done += 4)
        {
            Four(top, ys, indices, rowStart, w, done);
        }

        if (done < outputs && outputs >= 4)
        {
            Four(top, ys, indices, rowStart, w, outputs - 4);
            done = outputs;
        }

        return done;
    }

    // windows [first, first + 4) of the row
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Four(Cursor top, Cursor ys, Cursor indices, int rowStart, int w, int first)
    {
        Vector256<float> r0 = EvenThenOdd(top.Load<V256, Vector256<float>>(2 * first));
        Vector256<float> r1 = EvenThenOdd(top.Load<V256, Vector256<float>>(w + (2 * first)));
        Vector128<float> m = r0.GetLower();
        Vector128<int> at = Vector128<int>.Zero;
        Take(r0.GetUpper(), 1, ref m, ref at);
        Take(r1.GetLower(), w, ref m, ref at);
        Take(r1.GetUpper(), w + 1, ref m, ref at);
        ys.Store<V128, Vector128<float>>(m, first);
        indices.Store<V128, Vector128<float>>((at + Vector128.Create(0, 2, 4, 6) + Vector128.Create(rowStart + (2 * first))).AsSingle(), first);
    }

    // windows [first, first + 8) of the row: the four candidates of each as 8-lane vectors, compared in window order
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Eight(Cursor top, Cursor ys, Cursor indices, int rowStart, int w, int first)
    {
        (Vector256<float> topLeft, Vector256<float> topRight) = Split(top, 2 * first);
        (Vector256<float> bottomLeft, Vector256<float> bottomRight) = Split(top, w + (2 * first));
        Vector256<float> m = topLeft;
        Vector256<int> at = Vector256<int>.Zero;
        Take(topRight, 1, ref m, ref at);
        Take(bottomLeft, w, ref m, ref at);
        Take(bottomRight, w + 1, ref m, ref at);
        ys.Store<V256, Vector256<float>>(m, first);
        indices.Store<V256, Vector256<float>>((at + Vector256.Create(0, 2, 4, 6, 8, 10, 12, 14) + Vector256.Create(rowStart + (2 * first))).AsSingle(), first);
    }

    // 16 inputs from x[at]: the windows' left columns (x0 x2 .. x14) and right columns (x1 x3 .. x15)
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<float> Left, Vector256<float> Right) Split(Cursor x, int at)
    {
        Vector256<float> a = EvenThenOdd(x.Load<V256, Vector256<float>>(at)), b = EvenThenOdd(x.Load<V256, Vector256<float>>(at + 8));
        return (System.Runtime.Intrinsics.X86.Avx.Permute2x128(a, b, 0x20), System.Runtime.Intrinsics.X86.Avx.Permute2x128(a, b, 0x31));
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
        System.Runtime.Intrinsics.X86.Avx2.IsSupported ? System.Runtime.Intrinsics.X86.Avx2.PermuteVar8x32(v, EvenOdd) : Vector256.Shuffle(v, EvenOdd);

    // m, at ← v, offset where v > m, or v is NaN and m is not
    private static void Take(Vector128<float> v, int offset, ref Vector128<float> m, ref Vector128<int> at)
    {
        Vector128<float> vIsNumber = Vector128.Equals(v, v), mIsNumber = Vector128.Equals(m, m);
        Vector128<float> higher = Vector128.GreaterThan(v, m) | Vector128.AndNot(mIsNumber, vIsNumber);
        m = Vector128.ConditionalSelect(higher, v, m);
        at = Vector128.ConditionalSelect(higher.AsInt32(), Vector128.Create(offset), at);
    }
}

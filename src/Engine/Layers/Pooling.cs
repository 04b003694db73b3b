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
                    j = MaxPairs.Row(x, new PoolRow(basePlane + (2 * i * w), w), ow, y[o..], argmax[o..]);
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
                            if (MaxPairs.Beats(v, m))
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

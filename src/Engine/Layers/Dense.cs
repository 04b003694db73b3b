using System.Numerics.Tensors;
using CnnCluster.Engine.Kernels;
using CnnCluster.Engine.Tensors;

namespace CnnCluster.Engine.Layers;

/// <summary>
/// Fully connected: y = x · Wᵀ + b, on the flattened input. Parameters: W (out, in) then b (out).
/// Backward is the delta rule: dW += dyᵀ · x, db += Σ dy, dx = dy · W.
/// </summary>
public sealed class Dense : Layer
{
    // forward takes samples 8 at a time as the vector lanes: yᵀ (out, 8) = W (out, in) · xᵀ (in, 8)
    private const int Lanes = 8;

    private readonly int _in;
    private readonly int _out;
    private readonly WeightInit _init;
    private readonly int[] _rowBase;  // o·in for each output, padded to whole tiles
    private readonly int[] _terms;    // 0..in-1
    private readonly VectorWidth _width = Simd.For(Lanes);

    public Dense(Shape3 input, int outFeatures, WeightInit init = WeightInit.He)
        : base(input, new Shape3(outFeatures, 1, 1))
    {
        _in = input.Size;
        _out = outFeatures;
        _init = init;
        _rowBase = Layout.RowTable(outFeatures, o => o * _in);
        _terms = Enumerable.Range(0, _in).ToArray();
    }

    // xᵀ (in, 8) and yᵀ (out, 8) of one group of samples
    public override int ScratchSize(int n) => Lanes * (_in + _out);

    public override string Kind => "dense";

    public override int ParameterCount => _out * _in + _out;

    public override void Initialize(Span<float> p, Rng rng)
    {
        Initializers.Fill(p[..(_out * _in)], _init, _in, _out, rng);
        p[(_out * _in)..].Clear();
    }

    // x is (n, in), W is (out, in), b is (out), y is (n, out)
    public override void Forward(int n, ReadOnlySpan<float> x, Span<float> y, ReadOnlySpan<float> p, Span<float> scratch)
    {
        ReadOnlySpan<float> w = p[..(_out * _in)], b = p[(_out * _in)..];
        Span<float> xt = scratch[..(Lanes * _in)], yt = scratch.Slice(Lanes * _in, Lanes * _out);
        for (int s0 = 0; s0 < n; s0 += Lanes)
        {
            int count = Math.Min(Lanes, n - s0);
            // xt[i, j] = x[s0 + j, i], lanes past the last sample zero
            xt.Clear();
            Layout.StridedCopy(x[(s0 * _in)..], _in, 1, xt, 1, Lanes, count, _in);

            // yᵀ = W · xᵀ: rows of W gathered 8 outputs at a time, the samples in the lanes
            for (int o = 0; o < _out; o += GatherGemm.Rows)
            {
                GatherGemm.Tile(_width, w, _rowBase.AsSpan(o, GatherGemm.Rows), _terms, xt, Lanes, Lanes / (int)_width, yt[(o * Lanes)..], Lanes, Math.Min(GatherGemm.Rows, _out - o), accumulate: false);
            }

            // y = x · Wᵀ + b
            Span<float> ys = y.Slice(s0 * _out, count * _out);
            Layout.StridedCopy(yt, 1, Lanes, ys, _out, 1, count, _out);
            for (int j = 0; j < count; j++)
            {
                Span<float> row = ys.Slice(j * _out, _out);
                TensorPrimitives.Add(row, b, row);
            }
        }
    }

    // backward of: y = x · Wᵀ + b
    public override void Backward(int n, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, ReadOnlySpan<float> p, Span<float> g, Span<float> scratch)
    {
        Span<float> gb = g[(_out * _in)..];
        for (int s = 0; s < n; s++)
        {
            ReadOnlySpan<float> row = dy.Slice(s * _out, _out);
            TensorPrimitives.Add(gb, row, gb);
        }

        // dW += dyᵀ · x
        Gemm.MatMulTransAAdd(dy, x, g[..(_out * _in)], _out, n, _in);
        if (!dx.IsEmpty)
        {
            // dx = dy · W
            dx[..(n * _in)].Clear();
            Gemm.MatMulAdd(dy, p[..(_out * _in)], dx, n, _out, _in);
        }
    }

    public override string Describe() => $"dense {_in}->{_out}";
}

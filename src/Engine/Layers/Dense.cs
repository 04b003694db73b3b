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
    private readonly int _in;
    private readonly int _out;
    private readonly WeightInit _init;

    public Dense(Shape3 input, int outFeatures, WeightInit init = WeightInit.He)
        : base(input, new Shape3(outFeatures, 1, 1))
    {
        _in = input.Size;
        _out = outFeatures;
        _init = init;
    }

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
        ReadOnlySpan<float> b = p[(_out * _in)..];
        for (int s = 0; s < n; s++)
        {
            b.CopyTo(y.Slice(s * _out, _out));
        }

        // y = x · Wᵀ + b
        Gemm.MatMulTransBAdd(x, p[..(_out * _in)], y, n, _in, _out);
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

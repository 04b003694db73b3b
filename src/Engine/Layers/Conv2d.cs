using CnnCluster.Engine.Kernels;
using CnnCluster.Engine.Tensors;

namespace CnnCluster.Engine.Layers;

/// <summary>
/// 2-D convolution (cross-correlation, as in every framework): y = x ⋆ w + b.
/// Parameters: w (K, C, k, k) then b (K).
/// </summary>
public sealed class Conv2d : Layer
{
    private readonly ConvGeometry _g;
    private readonly ConvDirect _conv;
    private readonly WeightInit _init;

    public Conv2d(Shape3 input, int outChannels, int kernel, int stride = 1, int pad = 0, WeightInit init = WeightInit.He)
        : base(input, OutputShape(input, outChannels, kernel, stride, pad))
    {
        _g = new ConvGeometry(input.C, input.H, input.W, outChannels, kernel, stride, pad);
        _conv = new ConvDirect(_g);
        _init = init;
    }

    public ConvGeometry Geometry => _g;

    public override string Kind => "conv2d";

    public override int ParameterCount => _g.WeightCount + _g.K;

    public override int ScratchSize(int n) => _conv.ScratchSize(n);

    public static Shape3 OutputShape(Shape3 input, int outChannels, int kernel, int stride, int pad)
    {
        int h = (input.H + 2 * pad - kernel) / stride + 1;
        int w = (input.W + 2 * pad - kernel) / stride + 1;
        return new Shape3(outChannels, h, w);
    }

    public override void Initialize(Span<float> p, Rng rng)
    {
        Initializers.Fill(p[.._g.WeightCount], _init, _g.Patch, _g.K * _g.Kernel * _g.Kernel, rng);
        p[_g.WeightCount..].Clear();
    }

    // x is (n, C, H, W), w is (K, C, k, k), y is (n, K, Ho, Wo)
    public override void Forward(int n, ReadOnlySpan<float> x, Span<float> y, ReadOnlySpan<float> p, Span<float> scratch)
    {
        _conv.Forward(n, x, p[.._g.WeightCount], p[_g.WeightCount..], y, scratch);
    }

    /// <summary>
    /// pooled = maxpool2(relu(x ⋆ w + b)) and the pool's argmax (indices into the (n, K, Ho, Wo) output), without writing
    /// that output: what this layer, a ReLU and a 2×2 max pool give (<see cref="ConvReluPool"/>).
    /// </summary>
    internal void ForwardReluPool(int n, ReadOnlySpan<float> x, Span<float> pooled, Span<int> argmax, ReadOnlySpan<float> p, Span<float> scratch)
    {
        _conv.ForwardReluPool(n, x, p[.._g.WeightCount], p[_g.WeightCount..], pooled, argmax, scratch);
    }

    /// <summary>The backward of <see cref="ForwardReluPool"/>, from the pooled values, their delta and the argmax.</summary>
    internal void BackwardReluPool(int n, ReadOnlySpan<float> pooled, ReadOnlySpan<float> dpooled, ReadOnlySpan<int> argmax, Span<float> dx, ReadOnlySpan<float> p, Span<float> g, Span<float> scratch)
    {
        _conv.BackwardReluPool(n, pooled, dpooled, argmax, dx, p[.._g.WeightCount], g[.._g.WeightCount], g[_g.WeightCount..], scratch);
    }

    // backward of: y = x ⋆ w + b
    public override void Backward(int n, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, ReadOnlySpan<float> p, Span<float> g, Span<float> scratch)
    {
        _conv.Backward(n, dy, dx, p[.._g.WeightCount], g[.._g.WeightCount], g[_g.WeightCount..], scratch);
    }

    public override string Describe() => $"conv2d {_g.C}->{_g.K} k{_g.Kernel} s{_g.Stride} p{_g.Pad}";
}

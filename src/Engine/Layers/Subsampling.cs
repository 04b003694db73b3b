using CnnCluster.Engine.Tensors;

namespace CnnCluster.Engine.Layers;

public enum SubsamplingMode
{
    Mean,
    Sum,
}

/// <summary>
/// Bouvrie's subsampling layer: y = f(β · down(x) + b), one trainable β and b per map.
/// down(·) sums (or averages) each n×n block. Backward upsamples the delta by a Kronecker product:
///   δ = dy ∘ f'(u),  dβ = Σ δ ∘ down(x),  db = Σ δ,  dx = β · up(δ) (· 1/n² for mean).
/// Parameters: β (C) then b (C).
/// </summary>
public sealed class Subsampling : Layer
{
    private readonly float _scale;

    public Subsampling(Shape3 input, int size, SubsamplingMode mode = SubsamplingMode.Mean, ActivationKind activation = ActivationKind.None)
        : base(input, new Shape3(input.C, input.H / size, input.W / size))
    {
        Size = size;
        Mode = mode;
        Activation = activation;
        _scale = mode == SubsamplingMode.Mean ? 1f / (size * size) : 1f;
    }

    public int Size { get; }

    public SubsamplingMode Mode { get; }

    public ActivationKind Activation { get; }

    public override string Kind => "subsampling";

    public override int ParameterCount => 2 * Input.C;

    // down(x) is kept from forward for dβ; δ needs a second buffer
    public override int ScratchSize(int n) => 2 * n * Output.Size;

    public override void Initialize(Span<float> p, Rng rng)
    {
        p[..Input.C].Fill(1f);
        p[Input.C..].Clear();
    }

    // x is (n, C, H, W), y is (n, C, H/s, W/s); u = β·down(x) + b, y = f(u)
    public override void Forward(int n, ReadOnlySpan<float> x, Span<float> y, ReadOnlySpan<float> p, Span<float> scratch)
    {
        int len = n * Output.Size, plane = Output.H * Output.W;
        Span<float> down = scratch[..len];
        Windows.Down(Input, Size, n * Input.C, x, down, _scale);
        for (int q = 0; q < n * Input.C; q++)
        {
            int c = q % Input.C;
            float beta = p[c], bias = p[Input.C + c];
            ReadOnlySpan<float> d = down.Slice(q * plane, plane);
            Span<float> u = y.Slice(q * plane, plane);
            for (int i = 0; i < plane; i++)
            {
                u[i] = beta * d[i] + bias;
            }
        }

        ActivationFunctions.Apply(Activation, y[..len], y[..len]);
    }

    // backward of: y = f(β · down(x) + b)
    public override void Backward(int n, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, ReadOnlySpan<float> p, Span<float> g, Span<float> scratch)
    {
        int len = n * Output.Size, plane = Output.H * Output.W;
        ReadOnlySpan<float> down = scratch[..len];
        Span<float> delta = scratch.Slice(len, len);
        ActivationFunctions.Backward(Activation, y[..len], dy[..len], delta);
        for (int q = 0; q < n * Input.C; q++)
        {
            int c = q % Input.C;
            ReadOnlySpan<float> dq = delta.Slice(q * plane, plane);
            ReadOnlySpan<float> downq = down.Slice(q * plane, plane);
            float dBeta = 0f, dBias = 0f;
            for (int i = 0; i < plane; i++)
            {
                dBeta += dq[i] * downq[i];
                dBias += dq[i];
            }

            g[c] += dBeta;
            g[Input.C + c] += dBias;
        }

        if (dx.IsEmpty)
        {
            return;
        }

        // δ is scaled by β per map before the Kronecker upsampling
        for (int q = 0; q < n * Input.C; q++)
        {
            float beta = p[q % Input.C];
            Span<float> dq = delta.Slice(q * plane, plane);
            for (int i = 0; i < plane; i++)
            {
                dq[i] *= beta;
            }
        }

        Windows.Up(Input, Size, n * Input.C, delta, dx, _scale);
    }

    public override string Describe() =>
        $"subsampling {Size} {Mode.ToString().ToLowerInvariant()}" + (Activation == ActivationKind.None ? string.Empty : $" {ActivationFunctions.Name(Activation)}");
}

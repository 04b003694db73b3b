using System.Numerics.Tensors;
using CnnCluster.Engine.Tensors;

namespace CnnCluster.Engine.Layers;

/// <summary>
/// Inverted dropout: at training each unit is kept with probability 1 − p and scaled by 1/(1 − p), so
/// evaluation is the identity. The mask is a counter-based hash of (seed, step, the sample's global
/// index, unit), drawn into scratch by <see cref="DrawNoise"/>: the same whichever thread or worker
/// computes the sample, whatever the shard layout.
/// </summary>
public sealed class Dropout : Layer
{
    private const ulong StreamBase = 0x4452_4F50_0000_0000UL; // "DROP", apart from the other streams
    private readonly ulong _stream;

    /// <param name="index">The layer's position in the network: two dropout layers draw different masks.</param>
    public Dropout(Shape3 input, float p, int index)
        : base(input, input)
    {
        if (!(p >= 0f && p < 1f))
        {
            throw new ArgumentOutOfRangeException(nameof(p), $"dropout p must be in [0, 1), got {p}");
        }

        P = p;
        _stream = StreamBase + (ulong)index;
    }

    public float P { get; }

    public override string Kind => "dropout";

    // the mask (n, C, H, W): 0 or 1/(1 − p), kept from DrawNoise through Forward to Backward
    public override int ScratchSize(int n) => n * Input.Size;

    // mask[s, u] = (hash(seed, step, samples[s], u) ≥ p · 2³²) / (1 − p) at training; 1 at evaluation
    public override void DrawNoise(int n, in PassContext pass, ReadOnlySpan<int> samples, Span<float> scratch)
    {
        int units = Input.Size;
        Span<float> mask = scratch[..(n * units)];
        if (!pass.Training)
        {
            mask.Fill(1f);
            return;
        }

        float scale = (float)(1.0 / (1.0 - P));
        ulong threshold = (ulong)(P * 4294967296.0); // exact: a float times 2³² in double
        for (int s = 0; s < n; s++)
        {
            ulong key = CounterHash.Of(pass.Seed, _stream, (ulong)pass.Step, (ulong)samples[s]);
            Span<float> m = mask.Slice(s * units, units);
            for (int u = 0; u < units; u++)
            {
                m[u] = (CounterHash.At(key, (ulong)u) >> 32) >= threshold ? scale : 0f;
            }
        }
    }

    // y = x ∘ mask                 x, y, mask: (n, C, H, W)
    public override void Forward(int n, ReadOnlySpan<float> x, Span<float> y, ReadOnlySpan<float> p, Span<float> scratch)
    {
        int len = n * Input.Size;
        TensorPrimitives.Multiply(x[..len], scratch[..len], y[..len]);
    }

    // backward of: y = x ∘ mask    dx = dy ∘ mask (the same mask: scratch is kept from Forward)
    public override void Backward(int n, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, ReadOnlySpan<float> p, Span<float> g, Span<float> scratch)
    {
        if (!dx.IsEmpty)
        {
            int len = n * Input.Size;
            TensorPrimitives.Multiply(dy[..len], scratch[..len], dx[..len]);
        }
    }

    public override string Describe() => $"dropout p={P.ToString(System.Globalization.CultureInfo.InvariantCulture)}";
}

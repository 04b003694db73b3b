using CnnCluster.Engine.Kernels;
using CnnCluster.Engine.Tensors;

namespace CnnCluster.Engine.Layers;

/// <summary>The penalty a <see cref="MapCombination"/> puts on its combination weights α (spec field "penalty").</summary>
public enum SparsityPenalty
{
    /// <summary>Bouvrie's λ Σ|α| ("l1"): a constant for a softmax, so it sparsifies nothing (kept as the article states it).</summary>
    L1,

    /// <summary>λ Σⱼ H(α·ⱼ), the entropy of each output map's combination ("entropy"): smallest when one input map takes it all.</summary>
    Entropy,
}

/// <summary>
/// Bouvrie's learned combination of feature maps: output map j = Σᵢ αᵢⱼ (xᵢ ⋆ kᵢⱼ) + bⱼ with
/// αᵢⱼ = softmax over i of cᵢⱼ, and an optional sparsity penalty on α whose gradient flows to c: the
/// article's Ω = λ Σᵢⱼ |αᵢⱼ| (<see cref="SparsityPenalty.L1"/>, constant), or the entropy
/// Ω = λ Σⱼ H(α·ⱼ) (<see cref="SparsityPenalty.Entropy"/>), which does drive α towards few inputs per map.
/// The forward pass is a convolution with effective weights W[j, i] = αᵢⱼ · kᵢⱼ, so it runs on the same
/// kernels as <see cref="Conv2d"/>. Parameters: k (out, in, k, k), then c (out, in), then b (out).
/// </summary>
public sealed class MapCombination : Layer
{
    private readonly ConvGeometry _g;
    private readonly ConvDirect _conv;
    private readonly WeightInit _init;
    private readonly int _in;
    private readonly int _out;

    /// <summary>
    /// α below this counts as a combination the layer has dropped (<see cref="CountSparse"/>; the issue's
    /// "fraction of α &lt; 0.05", reported per epoch).
    /// </summary>
    public const float SparseAlpha = 0.05f;

    /// <summary>
    /// The entropy penalty takes log max(α, this): a softmax in float can round a weight to 0, whose term
    /// α log α is 0 in the limit, and the floor keeps it 0 instead of 0 · (−∞) = NaN. Below 1e-30 a term
    /// is under 7e-29, far below the rounding of H, so the floor changes neither H nor the gradient.
    /// </summary>
    public const float LogFloor = 1e-30f;

    public MapCombination(Shape3 input, int outMaps, int kernel, int pad = 0, float sparsity = 0f, WeightInit init = WeightInit.Glorot, SparsityPenalty penalty = SparsityPenalty.L1)
        : base(input, Conv2d.OutputShape(input, outMaps, kernel, 1, pad))
    {
        _g = new ConvGeometry(input.C, input.H, input.W, outMaps, kernel, 1, pad);
        _conv = new ConvDirect(_g);
        _in = input.C;
        _out = outMaps;
        _init = init;
        Sparsity = sparsity;
        Penalty = Enum.IsDefined(penalty) ? penalty : throw new ArgumentOutOfRangeException(nameof(penalty), penalty, "not a sparsity penalty");
    }

    /// <summary>λ of the penalty on α (0: none).</summary>
    public float Sparsity { get; }

    /// <summary>Which penalty λ weighs: the article's L1 (constant) or the entropy of α.</summary>
    public SparsityPenalty Penalty { get; }

    public override string Kind => "mapcombination";

    public override int ParameterCount => _g.WeightCount + _out * _in + _out;

    /// <summary>How many α the layer has: out · in.</summary>
    public int AlphaCount => _out * _in;

    // W_eff and dW_eff, α and dα, then the convolution's scratch
    public override int ScratchSize(int n) => 2 * _g.WeightCount + 2 * AlphaCount + _conv.ScratchSize(n);

    public override void Initialize(Span<float> p, Rng rng)
    {
        // α starts uniform (c = 0), so W_eff = k / in: draw k in units of the effective weight
        Span<float> k = p[.._g.WeightCount];
        Initializers.Fill(k, _init, _g.Patch, _g.K * _g.Kernel * _g.Kernel, rng);
        for (int i = 0; i < k.Length; i++)
        {
            k[i] *= _in;
        }

        p[_g.WeightCount..].Clear();
    }

    // x is (n, in, H, W), k is (out, in, k, k), c is (out, in), y is (n, out, Ho, Wo)
    public override void Forward(int n, ReadOnlySpan<float> x, Span<float> y, ReadOnlySpan<float> p, Span<float> scratch)
    {
        Split(p, out ReadOnlySpan<float> k, out ReadOnlySpan<float> c, out ReadOnlySpan<float> b);
        Scratch(scratch, out Span<float> conv, out Span<float> wEff, out _, out Span<float> alpha, out _);
        Alphas(c, alpha);

        // W_eff[j, i] = α[j, i] · k[j, i]
        int kk = _g.Kernel * _g.Kernel;
        for (int ji = 0; ji < AlphaCount; ji++)
        {
            for (int t = 0; t < kk; t++)
            {
                wEff[ji * kk + t] = alpha[ji] * k[ji * kk + t];
            }
        }

        _conv.Forward(n, x, wEff, b, y, conv);
    }

    // backward of: y = x ⋆ W_eff + b with W_eff = α ∘ k, α = softmax(c)
    //   dk = α ∘ dW_eff,  dα[j,i] = Σ k[j,i] ∘ dW_eff[j,i],  dc[j,i] = α[j,i] (dα[j,i] − Σ_i' α[j,i'] dα[j,i'])
    public override void Backward(int n, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, ReadOnlySpan<float> p, Span<float> g, Span<float> scratch)
    {
        Split(p, out ReadOnlySpan<float> k, out _, out _);
        Scratch(scratch, out Span<float> conv, out Span<float> wEff, out Span<float> dwEff, out Span<float> alpha, out Span<float> dAlpha);
        Span<float> gk = g[.._g.WeightCount];
        Span<float> gc = g.Slice(_g.WeightCount, AlphaCount);
        Span<float> gb = g[(_g.WeightCount + AlphaCount)..];

        dwEff.Clear();
        _conv.Backward(n, dy, dx, wEff, dwEff, gb, conv);

        int kk = _g.Kernel * _g.Kernel;
        for (int ji = 0; ji < AlphaCount; ji++)
        {
            float da = 0f;
            for (int t = 0; t < kk; t++)
            {
                gk[ji * kk + t] += alpha[ji] * dwEff[ji * kk + t];
                da += k[ji * kk + t] * dwEff[ji * kk + t];
            }

            dAlpha[ji] = da;
        }

        SoftmaxBackward(alpha, dAlpha, gc);
    }

    /// <summary>
    /// The penalty on α (<see cref="Penalty"/>), its gradient into the window of c that g covers (the
    /// window logic of <see cref="Layer.Regularize(ReadOnlySpan{float}, Span{float}, int)"/>: g[0] is
    /// parameter windowStart, and c[j, i] outside the window is computed but not written).
    /// </summary>
    public override double Regularize(ReadOnlySpan<float> p, Span<float> g, int windowStart)
    {
        if (Sparsity == 0f)
        {
            return 0;
        }

        Split(p, out _, out ReadOnlySpan<float> c, out _);
        Span<float> alpha = new float[AlphaCount];
        Alphas(c, alpha);
        int firstC = _g.WeightCount - windowStart; // c[0]'s place in the window (may lie outside it)
        return Penalty == SparsityPenalty.Entropy ? Entropy(alpha, g, firstC) : L1(alpha, g, firstC);
    }

    /// <summary>
    /// Ω = λ Σ|α|, with Bouvrie's gradient ∂Ω/∂cᵢ = λ(|αᵢ| − αᵢ Σₖ|αₖ|). Because a softmax is positive and
    /// sums to one, Σᵢ|αᵢⱼ| = 1 for every output map: the penalty is the constant λ·out and its gradient is
    /// zero up to rounding. Kept literal, as the article states it (and bit for bit as before the entropy
    /// penalty existed: specs without "penalty" train as they did).
    /// </summary>
    private double L1(ReadOnlySpan<float> alpha, Span<float> g, int firstC)
    {
        double penalty = 0;
        for (int j = 0; j < _out; j++)
        {
            ReadOnlySpan<float> a = alpha.Slice(j * _in, _in);
            float l1 = 0f;
            for (int i = 0; i < _in; i++)
            {
                l1 += MathF.Abs(a[i]);
            }

            for (int i = 0; i < _in; i++)
            {
                int at = firstC + j * _in + i;
                if ((uint)at < (uint)g.Length)
                {
                    g[at] += Sparsity * (MathF.Abs(a[i]) - a[i] * l1);
                }
            }

            penalty += Sparsity * l1;
        }

        return penalty;
    }

    /// <summary>
    /// Ω = λ Σⱼ H(α·ⱼ) with H = −Σᵢ αᵢ log αᵢ, and through the softmax ∂Ω/∂cᵢ = −λ αᵢ (log αᵢ + H).
    /// H is largest (ln of the input count) for a uniform α, where the gradient is zero, and 0 when one
    /// input map has all the weight, so descending it concentrates each output map on few inputs. The log is
    /// <see cref="FloatMath.Log(ReadOnlySpan{float}, Span{float})"/> of max(α, <see cref="LogFloor"/>)
    /// and every sum runs over i in order, so the bits are the same on any instruction set.
    /// </summary>
    private double Entropy(ReadOnlySpan<float> alpha, Span<float> g, int firstC)
    {
        Span<float> logs = new float[_in];
        double penalty = 0;
        for (int j = 0; j < _out; j++)
        {
            ReadOnlySpan<float> a = alpha.Slice(j * _in, _in);
            for (int i = 0; i < _in; i++)
            {
                logs[i] = MathF.Max(a[i], LogFloor);
            }

            FloatMath.Log(logs, logs);
            float h = 0f;
            for (int i = 0; i < _in; i++)
            {
                h -= a[i] * logs[i];
            }

            for (int i = 0; i < _in; i++)
            {
                int at = firstC + j * _in + i;
                if ((uint)at < (uint)g.Length)
                {
                    g[at] -= Sparsity * (a[i] * (logs[i] + h));
                }
            }

            penalty += Sparsity * h;
        }

        return penalty;
    }

    /// <summary>α[j, ·] = softmax(c[j, ·]) of every output map from this layer's parameters, in (out, in) order.</summary>
    public float[] AlphasOf(ReadOnlySpan<float> p)
    {
        Split(p, out _, out ReadOnlySpan<float> c, out _);
        var alpha = new float[AlphaCount];
        Alphas(c, alpha);
        return alpha;
    }

    /// <summary>How many of this layer's α (of out · in) are below <see cref="SparseAlpha"/> (p: this layer's parameters).</summary>
    public int CountSparse(ReadOnlySpan<float> p)
    {
        int count = 0;
        foreach (float a in AlphasOf(p))
        {
            if (a < SparseAlpha)
            {
                count++;
            }
        }

        return count;
    }

    /// <summary>α[j, ·] = softmax(c[j, ·]) over the input maps of output map j.</summary>
    public void Alphas(ReadOnlySpan<float> c, Span<float> alpha)
    {
        for (int j = 0; j < _out; j++)
        {
            ReadOnlySpan<float> cj = c.Slice(j * _in, _in);
            Span<float> aj = alpha.Slice(j * _in, _in);
            float max = float.NegativeInfinity;
            for (int i = 0; i < _in; i++)
            {
                max = MathF.Max(max, cj[i]);
            }

            float sum = 0f;
            for (int i = 0; i < _in; i++)
            {
                aj[i] = FloatMath.Exp(cj[i] - max);
                sum += aj[i];
            }

            for (int i = 0; i < _in; i++)
            {
                aj[i] /= sum;
            }
        }
    }

    public override string Describe() => $"mapcombination {_in}->{_out} k{_g.Kernel} p{_g.Pad} λ{Sparsity}{(Penalty == SparsityPenalty.Entropy ? " entropy" : string.Empty)}";

    // dc[j,i] += α[j,i] (dα[j,i] − Σ_i' α[j,i'] dα[j,i'])
    private void SoftmaxBackward(ReadOnlySpan<float> alpha, ReadOnlySpan<float> dAlpha, Span<float> gc)
    {
        for (int j = 0; j < _out; j++)
        {
            float dot = 0f;
            for (int i = 0; i < _in; i++)
            {
                dot += alpha[j * _in + i] * dAlpha[j * _in + i];
            }

            for (int i = 0; i < _in; i++)
            {
                gc[j * _in + i] += alpha[j * _in + i] * (dAlpha[j * _in + i] - dot);
            }
        }
    }

    private void Split(ReadOnlySpan<float> p, out ReadOnlySpan<float> k, out ReadOnlySpan<float> c, out ReadOnlySpan<float> b)
    {
        k = p[.._g.WeightCount];
        c = p.Slice(_g.WeightCount, AlphaCount);
        b = p.Slice(_g.WeightCount + AlphaCount, _out);
    }

    private void Scratch(Span<float> s, out Span<float> conv, out Span<float> wEff, out Span<float> dwEff, out Span<float> alpha, out Span<float> dAlpha)
    {
        wEff = s[.._g.WeightCount];
        dwEff = s.Slice(_g.WeightCount, _g.WeightCount);
        alpha = s.Slice(2 * _g.WeightCount, AlphaCount);
        dAlpha = s.Slice(2 * _g.WeightCount + AlphaCount, AlphaCount);
        conv = s[(2 * _g.WeightCount + 2 * AlphaCount)..];
    }
}

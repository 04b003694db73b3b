using CnnCluster.Engine.Layers;
using CnnCluster.Engine.Tensors;

namespace CnnCluster.Engine.Tests;

/// <summary>A deliberate defect in a layer's backward pass, for showing that a suite catches such defects.</summary>
public enum Mutation
{
    /// <summary>dx[i] takes dx[i + 1]: an index off by one in the input delta.</summary>
    InputDeltaOffByOne,

    /// <summary>The layer's parameter gradient lands one place over: an index off by one in g.</summary>
    ParameterGradientOffByOne,

    /// <summary>The input delta 2% too large: the size of the error issue 27 reported.</summary>
    InputDeltaTwoPercent,

    /// <summary>The parameter gradient 2% too large.</summary>
    ParameterGradientTwoPercent,
}

/// <summary>
/// A real layer whose forward pass is untouched and whose backward pass carries <see cref="Mutation"/>;
/// put in a network by <c>Network.Build(spec, decorate)</c>.
/// </summary>
internal sealed class MutantLayer(Layer inner, Mutation mutation) : Layer(inner.Input, inner.Output)
{
    public override string Kind => inner.Kind;

    public override int ParameterCount => inner.ParameterCount;

    public override int ScratchSize(int n) => inner.ScratchSize(n);

    public override void Initialize(Span<float> p, Rng rng) => inner.Initialize(p, rng);

    public override void DrawNoise(int n, in PassContext pass, ReadOnlySpan<int> samples, Span<float> scratch) => inner.DrawNoise(n, pass, samples, scratch);

    public override void Forward(int n, ReadOnlySpan<float> x, Span<float> y, ReadOnlySpan<float> p, Span<float> scratch) => inner.Forward(n, x, y, p, scratch);

    public override void Backward(int n, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, ReadOnlySpan<float> p, Span<float> g, Span<float> scratch)
    {
        var own = new float[g.Length];
        inner.Backward(n, x, y, dy, dx, p, own, scratch);
        int len = n * Input.Size;
        for (int i = 0; i < g.Length; i++)
        {
            g[i] += mutation switch
            {
                Mutation.ParameterGradientOffByOne => own[(i + 1) % own.Length],
                Mutation.ParameterGradientTwoPercent => 1.02f * own[i],
                _ => own[i],
            };
        }

        for (int i = 0; i < len && !dx.IsEmpty; i++)
        {
            dx[i] = mutation switch
            {
                Mutation.InputDeltaOffByOne => i + 1 < len ? dx[i + 1] : 0f,
                Mutation.InputDeltaTwoPercent => 1.02f * dx[i],
                _ => dx[i],
            };
        }
    }

    public override double Regularize(ReadOnlySpan<float> p, Span<float> g, int windowStart) => inner.Regularize(p, g, windowStart);

    public override string Describe() => $"{inner.Describe()} [mutant: {mutation}]";
}

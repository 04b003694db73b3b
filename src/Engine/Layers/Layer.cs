using CnnCluster.Engine.Tensors;

namespace CnnCluster.Engine.Layers;

/// <summary>
/// The one layer contract (as in Caffe): a forward/backward pair over a batch of n samples.
/// A layer holds only its configuration and shapes. Its parameters are a slice of the model's flat
/// parameter buffer (<see cref="ParameterOffset"/>, <see cref="ParameterCount"/>), its gradients the same
/// slice of a gradient buffer, and its per-pass memory a scratch span, so one layer object serves
/// any number of threads at once.
/// </summary>
public abstract class Layer
{
    protected Layer(Shape3 input, Shape3 output)
    {
        Input = input;
        Output = output;
    }

    /// <summary>The spec name of the layer type, e.g. "conv2d".</summary>
    public abstract string Kind { get; }

    public Shape3 Input { get; }

    public Shape3 Output { get; }

    public virtual int ParameterCount => 0;

    /// <summary>Where this layer's parameters start in the model's flat buffer.</summary>
    public int ParameterOffset { get; internal set; }

    /// <summary>Per-layer learning-rate multiplier (the article's per-weight η).</summary>
    public float LearningRateMultiplier { get; internal set; } = 1f;

    /// <summary>Floats of scratch this layer needs for a batch of n; kept between Forward and Backward.</summary>
    public virtual int ScratchSize(int n) => 0;

    public virtual void Initialize(Span<float> p, Rng rng)
    {
    }

    /// <summary>
    /// Draws what the next <see cref="Forward"/> of a stochastic layer uses (e.g. a dropout mask) into
    /// scratch, from the pass and the n samples' global indices alone, so any thread or worker draws the
    /// same; Backward reuses it. Deterministic layers draw nothing.
    /// </summary>
    public virtual void DrawNoise(int n, in PassContext pass, ReadOnlySpan<int> samples, Span<float> scratch)
    {
    }

    /// <summary>y = layer(x). x is (n, Input), y is (n, Output), p is this layer's parameter slice.</summary>
    public abstract void Forward(int n, ReadOnlySpan<float> x, Span<float> y, ReadOnlySpan<float> p, Span<float> scratch);

    /// <summary>
    /// Given dy = ∂L/∂y, add ∂L/∂p into g (accumulates) and write ∂L/∂x into dx (overwrites) unless dx
    /// is empty (the first layer needs no input delta). x and y are the values of the forward pass.
    /// </summary>
    public abstract void Backward(int n, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, ReadOnlySpan<float> p, Span<float> g, Span<float> scratch);

    /// <summary>Adds the gradient of a parameter penalty (not data dependent) into g; returns the penalty.</summary>
    public double Regularize(ReadOnlySpan<float> p, Span<float> g) => Regularize(p, g, 0);

    /// <summary>
    /// The same for the window of this layer's parameters [windowStart, windowStart + g.Length) alone
    /// (g[0] is parameter windowStart; empty: the penalty only). The penalty is the whole layer's.
    /// </summary>
    public virtual double Regularize(ReadOnlySpan<float> p, Span<float> g, int windowStart) => 0;

    /// <summary>A short description for messages, e.g. "conv2d 1->6 k5 s1 p2".</summary>
    public abstract string Describe();

    public override string ToString() => $"{Describe()} ({Input} -> {Output})";
}

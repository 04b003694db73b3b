using System.Runtime.InteropServices;

namespace CnnCluster.Engine.Layers;

/// <summary>
/// A conv2d followed by a ReLU and a 2×2 max pool, run as one stage of the network (the layers stay three in the spec,
/// the parameters and the model file): the conv's epilogue pools its output while it is still in the kernel's tile,
/// so neither the conv's nor the ReLU's output is written or read again. Forward and backward give the three layers'
/// bits: the pooled values are max over each window of max(u, 0), the argmax the same first maximum, and
///   backward of: pooled[o] = relu(u[argmax[o]])  →  du[argmax[o]] = 0 + dpooled[o] where pooled[o] &gt; 0, du = 0 elsewhere
/// (the pool's backward, adding into a cleared delta, then the ReLU's mask of its output), then the conv's backward,
/// one sample's du at a time, made in the conv's scratch just before it is used.
/// </summary>
public sealed class ConvReluPool
{
    private ConvReluPool(Conv2d conv, MaxPool2d pool)
    {
        Conv = conv;
        Pool = pool;
    }

    /// <summary>Layers i, i + 1, i + 2 as one stage, or null when they are not conv2d, relu, maxpool2d 2.</summary>
    public static ConvReluPool? At(IReadOnlyList<Layer> layers, int i) =>
        i + 2 < layers.Count && layers[i] is Conv2d conv && layers[i + 1] is ActivationLayer { Function: ActivationKind.ReLU }
        && layers[i + 2] is MaxPool2d { Size: 2 } pool
            ? new ConvReluPool(conv, pool)
            : null;

    /// <summary>Layers a stage stands for.</summary>
    public const int Layers = 3;

    public Conv2d Conv { get; }

    public MaxPool2d Pool { get; }

    // x is the conv's input (n, C, H, W), pooled the pool's output (n, K, Ho/2, Wo/2); the argmax in the pool's scratch
    public void Forward(int n, ReadOnlySpan<float> x, Span<float> pooled, ReadOnlySpan<float> p, Span<float> convScratch, Span<float> poolScratch)
    {
        Conv.ForwardReluPool(n, x, pooled, Argmax(n, poolScratch), p, convScratch);
    }

    // dx empty for a first layer; each sample's conv output delta is made in the conv's scratch as its backward needs it
    public void Backward(int n, ReadOnlySpan<float> x, ReadOnlySpan<float> pooled, ReadOnlySpan<float> dpooled, Span<float> dx, ReadOnlySpan<float> p, Span<float> g, Span<float> convScratch, Span<float> poolScratch)
    {
        Conv.BackwardReluPool(n, pooled, dpooled, Argmax(n, poolScratch), dx, p, g, convScratch);
    }

    public string Describe() => $"{Conv.Describe()} + relu + {Pool.Describe()}";

    private Span<int> Argmax(int n, Span<float> poolScratch) => MemoryMarshal.Cast<float, int>(poolScratch[..(n * Pool.Output.Size)]);
}

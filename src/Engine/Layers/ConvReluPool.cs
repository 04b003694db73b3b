using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using CnnCluster.Engine.Kernels;

namespace CnnCluster.Engine.Layers;

/// <summary>
/// A conv2d followed by a ReLU and a 2×2 max pool, run as one stage of the network (the layers stay three in the spec,
/// the parameters and the model file): the conv's epilogue pools its output while it is still in the kernel's tile,
/// so neither the conv's nor the ReLU's output is written or read again. Forward and backward give the three layers'
/// bits: the pooled values are max over each window of max(u, 0), the argmax the same first maximum, and
///   backward of: pooled[o] = relu(u[argmax[o]])  →  du[argmax[o]] = 0 + dpooled[o] where pooled[o] &gt; 0, du = 0 elsewhere
/// (the pool's backward, adding into a cleared delta, then the ReLU's mask of its output), then the conv's backward.
/// </summary>
public sealed class ConvReluPool
{
    private readonly Conv2d _conv;
    private readonly MaxPool2d _pool;

    private ConvReluPool(Conv2d conv, MaxPool2d pool)
    {
        _conv = conv;
        _pool = pool;
    }

    /// <summary>Layers i, i + 1, i + 2 as one stage, or null when they are not conv2d, relu, maxpool2d 2.</summary>
    public static ConvReluPool? At(IReadOnlyList<Layer> layers, int i) =>
        i + 2 < layers.Count && layers[i] is Conv2d conv && layers[i + 1] is ActivationLayer { Function: ActivationKind.ReLU }
        && layers[i + 2] is MaxPool2d { Size: 2 } pool
            ? new ConvReluPool(conv, pool)
            : null;

    /// <summary>Layers a stage stands for.</summary>
    public const int Layers = 3;

    public Conv2d Conv => _conv;

    public MaxPool2d Pool => _pool;

    // x is the conv's input (n, C, H, W), pooled the pool's output (n, K, Ho/2, Wo/2); the argmax in the pool's scratch
    public void Forward(int n, ReadOnlySpan<float> x, Span<float> pooled, ReadOnlySpan<float> p, Span<float> convScratch, Span<float> poolScratch)
    {
        _conv.ForwardReluPool(n, x, pooled, Argmax(n, poolScratch), p, convScratch);
    }

    // du is room for the conv's output delta (n, K, Ho, Wo); dx empty for a first layer
    public void Backward(int n, ReadOnlySpan<float> x, ReadOnlySpan<float> pooled, ReadOnlySpan<float> dpooled, Span<float> du, Span<float> dx, ReadOnlySpan<float> p, Span<float> g, Span<float> convScratch, Span<float> poolScratch)
    {
        ReadOnlySpan<int> argmax = Argmax(n, poolScratch);
        int size = n * _pool.Output.Size;
        if (pooled.Length < size || dpooled.Length < size)
        {
            throw new ArgumentException("pooled values or their delta shorter than the batch's");
        }

        du = du[..(n * _conv.Output.Size)];
        du.Clear();

        // the argmax is this stage's own forward's (indices into du); unchecked here, bounds-checked in the Checked build.
        // The mask is taken 8 values at a time as the ReLU layer's backward takes it (a branch on data mispredicts half the time)
        var to = new Cursor(du);
        var value = new Cursor(pooled);
        var delta = new Cursor(dpooled);
        Span<float> masked = stackalloc float[8];
        var lanes = new Cursor(masked);
        int o = 0;
        for (; o + 8 <= size; o += 8)
        {
            // 0 + dy where the pooled value > 0, else +0: what the pool's backward (into a cleared delta) and the ReLU's give
            lanes.Store<V256, Vector256<float>>(V256.WherePositive(value.Load<V256, Vector256<float>>(o), Vector256<float>.Zero + delta.Load<V256, Vector256<float>>(o)), 0);
            for (int i = 0; i < 8; i++)
            {
                to.Set(Mem.Get(argmax, o + i), lanes.Get(i));
            }
        }

        for (; o < size; o++)
        {
            to.Set(Mem.Get(argmax, o), ReluGrad.Invoke(value.Get(o), 0f + delta.Get(o)));
        }

        _conv.Backward(n, x, default, du, dx, p, g, convScratch);
    }

    public string Describe() => $"{_conv.Describe()} + relu + {_pool.Describe()}";

    private Span<int> Argmax(int n, Span<float> poolScratch) => MemoryMarshal.Cast<float, int>(poolScratch[..(n * _pool.Output.Size)]);
}

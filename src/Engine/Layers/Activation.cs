using System.Numerics.Tensors;
using CnnCluster.Engine.Kernels;
using CnnCluster.Engine.Tensors;

namespace CnnCluster.Engine.Layers;

/// <summary>The nonlinearities f of the article, each with its derivative written in terms of y = f(u).</summary>
public enum ActivationKind
{
    None,
    Sigmoid,
    Tanh,
    ReLU,
}

/// <summary>Elementwise f and f'(u) expressed through y = f(u), shared by the activation layers and Subsampling.</summary>
public static class ActivationFunctions
{
    // y = f(u), in place allowed
    public static void Apply(ActivationKind kind, ReadOnlySpan<float> u, Span<float> y)
    {
        switch (kind)
        {
            case ActivationKind.Sigmoid:
                FloatMath.Sigmoid(u, y);
                break;
            case ActivationKind.Tanh:
                FloatMath.Tanh(u, y);
                break;
            case ActivationKind.ReLU:
                TensorPrimitives.Max(u, 0f, y);
                break;
            default:
                u.CopyTo(y);
                break;
        }
    }

    // du = dy ∘ f'(u), with f'(u) from y: sigmoid y(1 − y), tanh 1 − y², relu [y > 0]
    public static void Backward(ActivationKind kind, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> du)
    {
        switch (kind)
        {
            case ActivationKind.Sigmoid:
                Elementwise.Map<SigmoidGrad>(y, dy, du);
                break;
            case ActivationKind.Tanh:
                Elementwise.Map<TanhGrad>(y, dy, du);
                break;
            case ActivationKind.ReLU:
                Elementwise.Map<ReluGrad>(y, dy, du);
                break;
            default:
                dy.CopyTo(du);
                break;
        }
    }

    public static string Name(ActivationKind kind) => kind switch
    {
        ActivationKind.Sigmoid => "sigmoid",
        ActivationKind.Tanh => "tanh",
        ActivationKind.ReLU => "relu",
        _ => "none",
    };
}

/// <summary>An elementwise nonlinearity as a layer: Sigmoid, Tanh or ReLU.</summary>
public sealed class ActivationLayer : Layer
{
    public ActivationLayer(Shape3 input, ActivationKind function)
        : base(input, input)
    {
        Function = function;
    }

    public ActivationKind Function { get; }

    public override string Kind => ActivationFunctions.Name(Function);

    // y = f(x)
    public override void Forward(int n, ReadOnlySpan<float> x, Span<float> y, ReadOnlySpan<float> p, Span<float> scratch)
    {
        ActivationFunctions.Apply(Function, x[..(n * Input.Size)], y);
    }

    // backward of: y = f(x)
    public override void Backward(int n, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, ReadOnlySpan<float> p, Span<float> g, Span<float> scratch)
    {
        if (!dx.IsEmpty)
        {
            int len = n * Input.Size;
            ActivationFunctions.Backward(Function, y[..len], dy[..len], dx[..len]);
        }
    }

    public override string Describe() => Kind;
}

/// <summary>Reshapes (C, H, W) to a vector (C·H·W); the data are already laid out that way.</summary>
public sealed class Flatten : Layer
{
    public Flatten(Shape3 input)
        : base(input, new Shape3(input.Size, 1, 1))
    {
    }

    public override string Kind => "flatten";

    public override void Forward(int n, ReadOnlySpan<float> x, Span<float> y, ReadOnlySpan<float> p, Span<float> scratch)
    {
        x[..(n * Input.Size)].CopyTo(y);
    }

    public override void Backward(int n, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, ReadOnlySpan<float> p, Span<float> g, Span<float> scratch)
    {
        if (!dx.IsEmpty)
        {
            dy[..(n * Input.Size)].CopyTo(dx);
        }
    }

    public override string Describe() => "flatten";
}

namespace CnnCluster.Engine.Tensors;

/// <summary>A float32 NCHW tensor: batch first, then channels, rows, columns, stored densely.</summary>
public sealed class Tensor
{
    public Tensor(int n, Shape3 shape)
        : this(n, shape, new float[checked(n * shape.Size)])
    {
    }

    public Tensor(int n, Shape3 shape, float[] data)
    {
        if (data.Length != n * shape.Size)
        {
            throw new ArgumentException($"tensor data has {data.Length} floats, expected {n}x{shape} = {n * shape.Size}");
        }

        N = n;
        Shape = shape;
        Data = data;
    }

    public int N { get; }

    public Shape3 Shape { get; }

    public float[] Data { get; }

    /// <summary>Sample <paramref name="i"/> as a (C, H, W) span.</summary>
    public Span<float> Sample(int i) => Data.AsSpan(i * Shape.Size, Shape.Size);

    public float this[int n, int c, int h, int w]
    {
        get => Data[((n * Shape.C + c) * Shape.H + h) * Shape.W + w];
        set => Data[((n * Shape.C + c) * Shape.H + h) * Shape.W + w] = value;
    }
}

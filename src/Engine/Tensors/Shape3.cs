namespace CnnCluster.Engine.Tensors;

/// <summary>The per-sample shape (C, H, W) of an NCHW tensor; a flat vector is (n, 1, 1).</summary>
public readonly record struct Shape3(int C, int H, int W)
{
    public int Size => C * H * W;

    public override string ToString() => H == 1 && W == 1 ? $"{C}" : $"{C}x{H}x{W}";
}

namespace CnnCluster.Engine.Kernels;

/// <summary>
/// Shapes of one 2-D convolution: input (C, H, W), K square kernels of size k, stride s, zero padding p,
/// output (K, Ho, Wo) with Ho = (H + 2p - k) / s + 1.
/// </summary>
public readonly record struct ConvGeometry(int C, int H, int W, int K, int Kernel, int Stride, int Pad)
{
    public int OutH => (H + 2 * Pad - Kernel) / Stride + 1;

    public int OutW => (W + 2 * Pad - Kernel) / Stride + 1;

    public int InSize => C * H * W;

    public int OutSize => K * OutH * OutW;

    /// <summary>Rows of the im2col matrix: C·k·k.</summary>
    public int Patch => C * Kernel * Kernel;

    public int WeightCount => K * Patch;
}

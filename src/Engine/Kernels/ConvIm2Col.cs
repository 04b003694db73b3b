namespace CnnCluster.Engine.Kernels;

/// <summary>
/// The production convolution: lower each sample to an im2col matrix (C·k·k rows, Ho·Wo columns) and
/// multiply by the weights with <see cref="Gemm"/>. Tested against <see cref="ConvReference"/>.
/// </summary>
public static class ConvIm2Col
{
    /// <summary>Scratch floats needed per call: the column matrix and its gradient.</summary>
    public static int ScratchSize(in ConvGeometry g) => 2 * g.Patch * g.OutH * g.OutW;

    // x is (n, C, H, W), w is (K, C, k, k), b is (K), y is (n, K, Ho, Wo)
    public static void Forward(in ConvGeometry g, int n, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> b, Span<float> y, Span<float> scratch)
    {
        int spatial = g.OutH * g.OutW;
        Span<float> col = scratch[..(g.Patch * spatial)];
        for (int s = 0; s < n; s++)
        {
            Im2Col(g, x.Slice(s * g.InSize, g.InSize), col);
            Span<float> ys = y.Slice(s * g.OutSize, g.OutSize);
            for (int k = 0; k < g.K; k++)
            {
                ys.Slice(k * spatial, spatial).Fill(b[k]);
            }

            // y = w · col + b
            Gemm.MatMulAdd(w, col, ys, g.K, g.Patch, spatial);
        }
    }

    // backward of: y = w · col(x) + b
    //   dw += dy · colᵀ,  db += Σ dy,  dcol = wᵀ · dy,  dx = col2im(dcol)
    public static void Backward(in ConvGeometry g, int n, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx, ReadOnlySpan<float> w, Span<float> dw, Span<float> db, Span<float> scratch)
    {
        int spatial = g.OutH * g.OutW;
        Span<float> col = scratch[..(g.Patch * spatial)];
        Span<float> dcol = scratch.Slice(g.Patch * spatial, g.Patch * spatial);
        for (int s = 0; s < n; s++)
        {
            ReadOnlySpan<float> dys = dy.Slice(s * g.OutSize, g.OutSize);
            Im2Col(g, x.Slice(s * g.InSize, g.InSize), col);
            Gemm.MatMulTransBAdd(dys, col, dw, g.K, spatial, g.Patch);
            for (int k = 0; k < g.K; k++)
            {
                db[k] += Sum(dys.Slice(k * spatial, spatial));
            }

            if (!dx.IsEmpty)
            {
                dcol.Clear();
                Gemm.MatMulTransAAdd(w, dys, dcol, g.Patch, g.K, spatial);
                Span<float> dxs = dx.Slice(s * g.InSize, g.InSize);
                dxs.Clear();
                Col2ImAdd(g, dcol, dxs);
            }
        }
    }

    /// <summary>col[(c·k + i)·k + j, oh·Wo + ow] = x[c, oh·s − p + i, ow·s − p + j] (zero outside).</summary>
    public static void Im2Col(in ConvGeometry g, ReadOnlySpan<float> x, Span<float> col)
    {
        int outH = g.OutH, outW = g.OutW, k = g.Kernel;
        int row = 0;
        for (int c = 0; c < g.C; c++)
        {
            ReadOnlySpan<float> plane = x.Slice(c * g.H * g.W, g.H * g.W);
            for (int i = 0; i < k; i++)
            {
                for (int j = 0; j < k; j++, row++)
                {
                    Span<float> dst = col.Slice(row * outH * outW, outH * outW);
                    for (int oh = 0; oh < outH; oh++)
                    {
                        int ih = oh * g.Stride - g.Pad + i;
                        Span<float> dstRow = dst.Slice(oh * outW, outW);
                        if ((uint)ih >= (uint)g.H)
                        {
                            dstRow.Clear();
                            continue;
                        }

                        ReadOnlySpan<float> src = plane.Slice(ih * g.W, g.W);
                        for (int ow = 0; ow < outW; ow++)
                        {
                            int iw = ow * g.Stride - g.Pad + j;
                            dstRow[ow] = (uint)iw < (uint)g.W ? src[iw] : 0f;
                        }
                    }
                }
            }
        }
    }

    /// <summary>The adjoint of <see cref="Im2Col"/>: scatter-add columns back to the image.</summary>
    public static void Col2ImAdd(in ConvGeometry g, ReadOnlySpan<float> col, Span<float> x)
    {
        int outH = g.OutH, outW = g.OutW, k = g.Kernel;
        int row = 0;
        for (int c = 0; c < g.C; c++)
        {
            Span<float> plane = x.Slice(c * g.H * g.W, g.H * g.W);
            for (int i = 0; i < k; i++)
            {
                for (int j = 0; j < k; j++, row++)
                {
                    ReadOnlySpan<float> src = col.Slice(row * outH * outW, outH * outW);
                    for (int oh = 0; oh < outH; oh++)
                    {
                        int ih = oh * g.Stride - g.Pad + i;
                        if ((uint)ih >= (uint)g.H)
                        {
                            continue;
                        }

                        Span<float> dst = plane.Slice(ih * g.W, g.W);
                        ReadOnlySpan<float> srcRow = src.Slice(oh * outW, outW);
                        for (int ow = 0; ow < outW; ow++)
                        {
                            int iw = ow * g.Stride - g.Pad + j;
                            if ((uint)iw < (uint)g.W)
                            {
                                dst[iw] += srcRow[ow];
                            }
                        }
                    }
                }
            }
        }
    }

    private static float Sum(ReadOnlySpan<float> values) => Reduce.Sum(values);
}

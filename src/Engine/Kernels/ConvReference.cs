namespace CnnCluster.Engine.Kernels;

/// <summary>
/// The literal textbook convolution (Bouvrie, "Notes on Convolutional Neural Networks"), kept as the
/// reference that <see cref="ConvIm2Col"/> is tested against. Slow and allocating on purpose: every
/// line is the formula.
///   forward:  y = x ⋆ w + b                      (valid correlation of the zero-padded input)
///   backward: dx = full_conv(dy, rot180(w))       (slide the rotated kernel over the "full"-padded delta)
///             dw = valid_corr(x, dy),  db = Σ dy
/// A stride s is handled in the literal way: the delta is dilated (s − 1 zeros between entries) first.
/// </summary>
public static class ConvReference
{
    // x is (n, C, H, W), w is (K, C, k, k), b is (K), y is (n, K, Ho, Wo)
    public static void Forward(in ConvGeometry g, int n, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> b, Span<float> y)
    {
        int k = g.Kernel;
        for (int s = 0; s < n; s++)
        {
            var planes = new float[g.C][,];
            for (int c = 0; c < g.C; c++)
            {
                planes[c] = Padded(x, g, s, c);
            }

            for (int o = 0; o < g.K; o++)
            {
                for (int oh = 0; oh < g.OutH; oh++)
                {
                    for (int ow = 0; ow < g.OutW; ow++)
                    {
                        double acc = b[o];
                        for (int c = 0; c < g.C; c++)
                        {
                            float[,] xp = planes[c];
                            for (int i = 0; i < k; i++)
                            {
                                for (int j = 0; j < k; j++)
                                {
                                    acc += w[((o * g.C + c) * k + i) * k + j] * xp[oh * g.Stride + i, ow * g.Stride + j];
                                }
                            }
                        }

                        y[((s * g.K + o) * g.OutH + oh) * g.OutW + ow] = (float)acc;
                    }
                }
            }
        }
    }

    // backward of: y = x ⋆ w + b
    public static void Backward(in ConvGeometry g, int n, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx, Span<float> dw, Span<float> db, ReadOnlySpan<float> w)
    {
        int k = g.Kernel;
        int hp = g.H + 2 * g.Pad, wp = g.W + 2 * g.Pad;
        for (int s = 0; s < n; s++)
        {
            var dxPadded = new double[g.C, hp, wp];
            for (int o = 0; o < g.K; o++)
            {
                float[,] d = Dilated(dy, g, s, o);
                int dh = d.GetLength(0), dwid = d.GetLength(1);

                // db = Σ dy
                for (int a = 0; a < dh; a++)
                {
                    for (int bb = 0; bb < dwid; bb++)
                    {
                        db[o] += d[a, bb];
                    }
                }

                for (int c = 0; c < g.C; c++)
                {
                    // dw = valid_corr(x, dy): dw[i, j] = Σ_ab xpad[a + i, b + j] · d[a, b]
                    float[,] xp = Padded(x, g, s, c);
                    for (int i = 0; i < k; i++)
                    {
                        for (int j = 0; j < k; j++)
                        {
                            double acc = 0;
                            for (int a = 0; a < dh; a++)
                            {
                                for (int bb = 0; bb < dwid; bb++)
                                {
                                    acc += xp[a + i, bb + j] * d[a, bb];
                                }
                            }

                            dw[((o * g.C + c) * k + i) * k + j] += (float)acc;
                        }
                    }

                    // dx = full_conv(dy, rot180(w)): pad d by k − 1 on every side, slide rot180(w) over it
                    float[,] rot = Rot180(w, g, o, c);
                    for (int u = 0; u < dh + k - 1 && u < hp; u++)
                    {
                        for (int v = 0; v < dwid + k - 1 && v < wp; v++)
                        {
                            double acc = 0;
                            for (int i = 0; i < k; i++)
                            {
                                for (int j = 0; j < k; j++)
                                {
                                    int a = u + i - (k - 1), bb = v + j - (k - 1);
                                    if (a >= 0 && a < dh && bb >= 0 && bb < dwid)
                                    {
                                        acc += d[a, bb] * rot[i, j];
                                    }
                                }
                            }

                            dxPadded[c, u, v] += acc;
                        }
                    }
                }
            }

            if (dx.IsEmpty)
            {
                continue;
            }

            // crop the padding away
            for (int c = 0; c < g.C; c++)
            {
                for (int h = 0; h < g.H; h++)
                {
                    for (int ww = 0; ww < g.W; ww++)
                    {
                        dx[((s * g.C + c) * g.H + h) * g.W + ww] = (float)dxPadded[c, h + g.Pad, ww + g.Pad];
                    }
                }
            }
        }
    }

    private static float[,] Padded(ReadOnlySpan<float> x, in ConvGeometry g, int s, int c)
    {
        var p = new float[g.H + 2 * g.Pad, g.W + 2 * g.Pad];
        for (int h = 0; h < g.H; h++)
        {
            for (int w = 0; w < g.W; w++)
            {
                p[h + g.Pad, w + g.Pad] = x[((s * g.C + c) * g.H + h) * g.W + w];
            }
        }

        return p;
    }

    private static float[,] Dilated(ReadOnlySpan<float> dy, in ConvGeometry g, int s, int o)
    {
        var d = new float[(g.OutH - 1) * g.Stride + 1, (g.OutW - 1) * g.Stride + 1];
        for (int oh = 0; oh < g.OutH; oh++)
        {
            for (int ow = 0; ow < g.OutW; ow++)
            {
                d[oh * g.Stride, ow * g.Stride] = dy[((s * g.K + o) * g.OutH + oh) * g.OutW + ow];
            }
        }

        return d;
    }

    private static float[,] Rot180(ReadOnlySpan<float> w, in ConvGeometry g, int o, int c)
    {
        int k = g.Kernel;
        var r = new float[k, k];
        for (int i = 0; i < k; i++)
        {
            for (int j = 0; j < k; j++)
            {
                r[k - 1 - i, k - 1 - j] = w[((o * g.C + c) * k + i) * k + j];
            }
        }

        return r;
    }
}

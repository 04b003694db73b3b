using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace CnnCluster.Engine.Kernels;

/// <summary>
/// The conv's epilogue when a ReLU and a 2×2 max pool follow it: each sample's output, still channels-last or in the
/// grid, goes through max(·, 0) and the pool's rule (the first maximum in window order, a NaN over a number) straight
/// into the pooled planes and the pool's argmax, and is never written out whole. The same values the three layers
/// give, and the same argmax (an index into the (n, K, Ho, Wo) output the conv would have written).
/// </summary>
public sealed partial class ConvDirect
{
    /// <summary>Positions of one pooled plane: the output's rows and columns halved, a last odd one dropped (as the pool does).</summary>
    private int PooledSpatial => (_g.OutH / 2) * (_g.OutW / 2);

    /// <summary>
    /// pooled (n, K, Ho/2, Wo/2) = maxpool2(relu(x ⋆ w + b)); argmax[o] = the index in (n, K, Ho, Wo) of output o's window winner.
    /// </summary>
    public void ForwardReluPool(int n, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> b, Span<float> pooled, Span<int> argmax, Span<float> scratch)
    {
        int size = n * _g.K * PooledSpatial;
        if (pooled.Length < size || argmax.Length < size)
        {
            throw new ArgumentException("pooled outputs shorter than the batch's");
        }

        Forward(n, x, w, b, default, new PoolTarget(pooled[..size], argmax[..size]), scratch);
    }

    /// <summary>
    /// The backward of <see cref="ForwardReluPool"/>: each sample's output delta made in scratch from the pooled delta
    /// just before the conv's backward uses it (0 + dpooled[o] at argmax[o] where pooled[o] &gt; 0, else 0: the pool's
    /// backward into a cleared delta, then the ReLU's mask), so the batch's whole output delta is never written.
    /// </summary>
    public void BackwardReluPool(int n, ReadOnlySpan<float> pooled, ReadOnlySpan<float> dpooled, ReadOnlySpan<int> argmax, Span<float> dx, ReadOnlySpan<float> w, Span<float> dw, Span<float> db, Span<float> scratch)
    {
        int size = n * _g.K * PooledSpatial;
        if (pooled.Length < size || dpooled.Length < size || argmax.Length < size)
        {
            throw new ArgumentException("pooled values, their delta or argmax shorter than the batch's");
        }

        Backward(n, default, new PooledDelta(pooled, dpooled, argmax, _g.K, _g.OutH, _g.OutW), dx, w, dw, db, scratch);
    }

    /// <summary>Where the pooling epilogue writes: the pooled planes and their argmax, of the whole batch.</summary>
    private readonly ref struct PoolTarget(Span<float> pooled, Span<int> argmax)
    {
        public Span<float> Pooled { get; } = pooled;

        public Span<int> Argmax { get; } = argmax;

        public bool IsEmpty => Pooled.IsEmpty;
    }

    // sample s from ycl (S, Kpad): pcl[pp, k] = the window's max of relu(ycl[p, k]), win[pp, k] its number 0..3 in window order
    private void PoolChannelsLast(ReadOnlySpan<float> ycl, int s, PoolTarget pool, Span<float> region)
    {
        int ps = PooledSpatial, pw = _g.OutW / 2, ow = _g.OutW;
        Span<float> pcl = region[..(ps * KPad)], win = region.Slice(ps * KPad, ps * KPad);
        switch (Simd.Physical(OutWidth))
        {
            case VectorWidth.W512:
                PoolChannelsLast<V512, Vector512<float>>(ycl, pcl, win);
                break;
            case VectorWidth.W256:
                PoolChannelsLast<V256, Vector256<float>>(ycl, pcl, win);
                break;
            default:
                PoolChannelsLast<V128, Vector128<float>>(ycl, pcl, win);
                break;
        }

        // pooled[s, k, pp] = pcl[pp, k]; argmax = the winner's index in the conv's output
        int outBase = s * _g.K * ps;
        Layout.StridedCopy(pcl, 1, KPad, pool.Pooled.Slice(outBase, _g.K * ps), ps, 1, _g.K, ps);
        Span<int> argmax = pool.Argmax.Slice(outBase, _g.K * ps);
        ReadOnlySpan<int> step = [0, 1, ow, ow + 1];
        for (int k = 0; k < _g.K; k++)
        {
            int planeBase = (s * _g.OutSize) + (k * _spatial), pp = 0;
            for (int row = 0; row < ps / pw; row++)
            {
                for (int col = 0; col < pw; col++, pp++)
                {
                    argmax[(k * ps) + pp] = planeBase + (2 * row * ow) + (2 * col) + step[(int)win[(pp * KPad) + k]];
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void PoolChannelsLast<TOps, TVec>(ReadOnlySpan<float> ycl, Span<float> pcl, Span<float> win)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct
    {
        int pw = _g.OutW / 2, ps = PooledSpatial, ow = _g.OutW, lanes = TOps.Count;
        if (ycl.Length < _spatial * KPad || pcl.Length < ps * KPad || win.Length < ps * KPad)
        {
            throw new ArgumentException("pooling operands out of range");
        }

        var y0 = new Cursor(ycl);
        var p0 = new Cursor(pcl);
        var w0 = new Cursor(win);
        TVec one = TOps.Broadcast(1f), two = TOps.Broadcast(2f), three = TOps.Broadcast(3f);
        for (int pp = 0, corner = 0; pp < ps; pp++, corner += 2)
        {
            if (pp % pw == 0 && pp > 0)
            {
                corner += (2 * ow) - (2 * pw); // the next pair of rows (a last odd column skipped)
            }

            Cursor a = y0.At(corner * KPad), c = y0.At((corner + ow) * KPad), m = p0.At(pp * KPad), at = w0.At(pp * KPad);
            for (int v = 0; v < KPad; v += lanes)
            {
                TVec best = Relu<TOps, TVec>(a.Load<TOps, TVec>(v)), number = TOps.Zero;
                Take<TOps, TVec>(Relu<TOps, TVec>(a.Load<TOps, TVec>(KPad + v)), one, ref best, ref number);
                Take<TOps, TVec>(Relu<TOps, TVec>(c.Load<TOps, TVec>(v)), two, ref best, ref number);
                Take<TOps, TVec>(Relu<TOps, TVec>(c.Load<TOps, TVec>(KPad + v)), three, ref best, ref number);
                m.Store<TOps, TVec>(best, v);
                at.Store<TOps, TVec>(number, v);
            }
        }
    }

    // max(v, 0) as the ReLU layer makes it: v where v > 0 or v is NaN, else +0
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVec Relu<TOps, TVec>(TVec v)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct =>
        TOps.Select(TOps.IsNaN(v), v, TOps.WherePositive(v, v));

    // best, number ← v, its number where v > best, or v is NaN and best is not (the pool's rule)
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Take<TOps, TVec>(TVec v, TVec candidate, ref TVec best, ref TVec number)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct
    {
        TVec higher = TOps.Select(TOps.IsNaN(best), TOps.Zero, TOps.Select(TOps.IsNaN(v), TOps.IsNaN(v), TOps.LessThan(best, v)));
        best = TOps.Select(higher, v, best);
        number = TOps.Select(higher, candidate, number);
    }

    // sample s, channels first..first+channels-1 from the grid (6, grid) of their unbiased sums: each value + b, through
    // the ReLU, pooled row by row (MaxPairs, the pool layer's own kernel, where a row's vectors fit; the rest one window at a time)
    private void PoolGrid(ReadOnlySpan<float> ygrid, int s, int first, int channels, ReadOnlySpan<float> b, PoolTarget pool)
    {
        int ph = _g.OutH / 2, pw = _g.OutW / 2, ps = PooledSpatial, ow = _g.OutW;
        ReadOnlySpan<int> reads = [1, _wp, _wp + 1], names = [1, ow, ow + 1];
        for (int k = 0; k < channels; k++)
        {
            int channel = first + k, planeBase = (s * _g.OutSize) + (channel * _spatial), o = ((s * _g.K) + channel) * ps;
            var row = new PoolRow(k * _grid, _wp, planeBase, ow, Relu: true, b[channel]);
            int done = MaxPairs.Rows(ygrid, row, ph, 2 * _wp, 2 * ow, pw, pool.Pooled[o..], pool.Argmax[o..], pw);
            for (int i = 0; i < ph; i++)
            {
                for (int j = done; j < pw; j++)
                {
                    int g = row.Start + (2 * i * _wp) + (2 * j);
                    float best = row.Prepare(ygrid[g]);
                    int at = 0;
                    for (int c = 0; c < 3; c++)
                    {
                        float v = row.Prepare(ygrid[g + reads[c]]);
                        if (MaxPairs.Beats(v, best))
                        {
                            best = v;
                            at = names[c];
                        }
                    }

                    pool.Pooled[o + (i * pw) + j] = best;
                    pool.Argmax[o + (i * pw) + j] = planeBase + (2 * i * ow) + (2 * j) + at;
                }
            }
        }
    }
}

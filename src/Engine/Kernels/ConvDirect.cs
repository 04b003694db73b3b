using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace CnnCluster.Engine.Kernels;

/// <summary>
/// The fast convolution: every pass is the <see cref="GatherGemm"/> microkernel reading a zero-padded
/// copy of the input in place (implicit im2col, no column matrix), with vectors over channels
/// (channels-last inside, NCHW outside) at the narrowest width that holds them, for layers with few
/// channels. One plan per layer geometry holds the gather tables; it is immutable and shared by all
/// threads. Tested against <see cref="ConvReference"/> (the literal Bouvrie form) and <see cref="ConvIm2Col"/>.
/// </summary>
public sealed partial class ConvDirect
{
    private readonly ConvGeometry _g;
    private readonly int _wp, _plane, _spatial, _taps;
    private readonly int[] _posBase;     // per output position (padded to 8 rows): its window's corner in the padded input
    private readonly int[] _patchOffset; // per patch entry q = (c, i, j) (padded to 8 rows): its offset from the corner
    private readonly int[] _posRow;      // per output position (padded to 8 rows): its row in the channels-last delta
    private readonly int[] _channel;     // 0..K-1: the contraction of the input-delta pass
    private readonly bool _byPosition;   // forward and kernel gradient vectorized over positions (SpatialKernels)
    private readonly bool _forwardByPosition; // the forward alone so: also one input channel, in groups of 6 output channels
    private readonly int _groups;        // groups of SpatialKernels.Channels output channels in the forward by position
    private readonly int _grid;          // output rows at the padded pitch, rounded up to whole blocks of positions
    private readonly int _run, _runPitch; // input delta: a kernel row's taps and channels (k·C), and its padded length
    private readonly VectorWidth _runWidth;

    public ConvDirect(ConvGeometry g)
        : this(g, byPosition: null)
    {
    }

    /// <param name="g">The geometry.</param>
    /// <param name="byPosition">The forward path: null chooses it from the shape (production); tests force each.</param>
    internal ConvDirect(ConvGeometry g, bool? byPosition)
    {
        _g = g;
        _wp = g.W + 2 * g.Pad;
        _plane = (g.H + 2 * g.Pad) * _wp;
        _spatial = g.OutH * g.OutW;
        _taps = g.Kernel * g.Kernel;
        OutWidth = Simd.For(g.K);
        KPad = Simd.Pad(g.K, OutWidth);

        // the input delta's patch rows by kernel rows: row i of a patch is k·C contiguous floats in a channels-last
        // image of pitch C (taps j, channels c), padded to whole vectors; the padding lanes are zeros that the scatter
        // adds past the window (x + 0 = x: no sum here is −0), so 6 channels are not padded to 8 per tap
        _run = g.Kernel * g.C;
        _runWidth = Simd.For(_run);
        _runPitch = Simd.Pad(_run, _runWidth);
        DeltaWidth = Simd.For(g.Kernel * _runPitch);
        DeltaRow = Simd.Pad(g.Kernel * _runPitch, DeltaWidth);

        _posBase = Layout.RowTable(_spatial, p => (p / g.OutW * g.Stride * _wp) + (p % g.OutW * g.Stride));
        _patchOffset = Layout.RowTable(g.Patch, q => (q / _taps * _plane) + (q % _taps / g.Kernel * _wp) + (q % g.Kernel));
        _posRow = Layout.RowTable(_spatial, p => p * KPad);
        _channel = Enumerable.Range(0, g.K).ToArray();

        // few output channels would fill a fraction of each vector: vectorize the forward pass over
        // positions instead (a choice of the shape alone, as every layout here: README, numeric contract)
        bool fits = g.Stride == 1 && g.K <= SpatialKernels.Channels;
        _byPosition = byPosition == true && !fits
            ? throw new ArgumentException("the by-position forward needs stride 1 and at most 6 output channels")
            : byPosition ?? fits;

        // one input channel gives the product 9 or 25 terms: the channels-last tile spends more on its set-up, stores and
        // the transpose back than on its FMAs. By position the output comes out in planes, with the same sums (each
        // Σ_t w·x from 0 in the taps' order, then the bias added): the forward only, as the kernel gradient by position
        // sums in another order (the numeric contract)
        _forwardByPosition = _byPosition || (byPosition is null && g.C == 1 && g.Stride == 1);
        _groups = (g.K + SpatialKernels.Channels - 1) / SpatialKernels.Channels;
        _grid = (g.OutH * _wp + SpatialKernels.Block - 1) / SpatialKernels.Block * SpatialKernels.Block;
        PaddedInput = _forwardByPosition ? Math.Max(g.C * _plane, _grid + _patchOffset[g.Patch - 1]) : g.C * _plane;
    }

    /// <summary>Logical vector width over output channels (forward, kernel gradient).</summary>
    public VectorWidth OutWidth { get; }

    public int KPad { get; }

    /// <summary>Vector width of the input-delta product, whose rows hold a patch's kernel rows (k·C each, padded).</summary>
    public VectorWidth DeltaWidth { get; }

    private int DeltaRow { get; }

    /// <summary>Floats of one sample's padded input (with a zero tail for the grid's last vectors).</summary>
    private int PaddedInput { get; }

    /// <summary>Floats of scratch past the padded inputs: see <see cref="Regions"/>.</summary>
    private int WorkSize =>
        (2 * _g.Patch * KPad) + (_spatial * KPad) + (_g.K * DeltaRow) + (GatherGemm.Rows * DeltaRow) + InputDeltaSize + _g.K
        + _g.OutSize + (_forwardByPosition ? ((_groups + 1) * _g.Patch * SpatialKernels.Channels) + (SpatialKernels.Channels * _grid) : 2 * PooledSpatial * KPad);

    /// <summary>The channels-last input delta (Hp·Wp, C) and the tail the last kernel row's padding lanes reach.</summary>
    private int InputDeltaSize => (_plane * _g.C) + _runPitch - _run;

    public int ScratchSize(int n) => (n * PaddedInput) + WorkSize;

    /// <summary>
    /// The scratch, cut in one place: the padded inputs of the n samples (kept from Forward for
    /// Backward), then the buffers of one call. The by-position regions exist only on that path.
    /// </summary>
    private ref struct Regions
    {
        public Span<float> PaddedInputs;  // (n, C, Hp, Wp) and a zero tail
        public Span<float> Weights;       // wt (P, Kpad): forward by channels
        public Span<float> KernelGrad;    // dwcl (P, Kpad): kernel gradient by channels
        public Span<float> ChannelsLast;  // ycl or dycl (S, Kpad)
        public Span<float> Regrouped;     // wr (K, DeltaRow): input delta; at the end the kernel gradient's (K, P) transpose
        public Span<float> Patches;       // dcol (8, DeltaRow): one tile of positions' patches
        public Span<float> InputDelta;    // dxcl (Hp·Wp, C) and a tail
        public Span<float> BiasSums;      // (K): one sample's Σ_pos dy[k, pos]
        public Span<float> Weights6;      // w6 (groups, P, 6): by position
        public Span<float> KernelGrad6;   // dw6 (P, 6)
        public Span<float> Grid;          // y or dy grid (6, grid)
        public Span<float> Pooled;        // pcl and its window numbers (2, Ho/2 · Wo/2, Kpad): the pooling epilogue by channels
        public Span<float> SampleDelta;   // (K, Ho, Wo): one sample's dy made from a pooled delta
    }

    private Regions Carve(Span<float> scratch, int n)
    {
        int pk = _g.Patch * KPad, p6 = _g.Patch * SpatialKernels.Channels;
        var r = new Regions { PaddedInputs = scratch[..(n * PaddedInput)] };
        int at = n * PaddedInput;
        r.Weights = scratch.Slice(at, pk);
        r.KernelGrad = scratch.Slice(at += pk, pk);
        r.ChannelsLast = scratch.Slice(at += pk, _spatial * KPad);
        r.Regrouped = scratch.Slice(at += _spatial * KPad, _g.K * DeltaRow);
        r.Patches = scratch.Slice(at += _g.K * DeltaRow, GatherGemm.Rows * DeltaRow);
        r.InputDelta = scratch.Slice(at += GatherGemm.Rows * DeltaRow, InputDeltaSize);
        r.BiasSums = scratch.Slice(at += InputDeltaSize, _g.K);
        r.SampleDelta = scratch.Slice(at += _g.K, _g.OutSize);
        if (_forwardByPosition)
        {
            r.Weights6 = scratch.Slice(at += _g.OutSize, _groups * p6);
            r.KernelGrad6 = scratch.Slice(at += _groups * p6, p6);
            r.Grid = scratch.Slice(at + p6, SpatialKernels.Channels * _grid);
        }
        else
        {
            r.Pooled = scratch.Slice(at + _g.OutSize, 2 * PooledSpatial * KPad);
        }

        return r;
    }

    // x is (n, C, H, W), w is (K, C, k, k), b is (K), y is (n, K, Ho, Wo)
    public void Forward(int n, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> b, Span<float> y, Span<float> scratch) =>
        Forward(n, x, w, b, y, default, scratch);

    // y, or (pool not empty) each sample's output handed to the pooling epilogue instead of written out
    private void Forward(int n, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> b, Span<float> y, PoolTarget pool, Span<float> scratch)
    {
        if (_forwardByPosition)
        {
            ForwardByPosition(n, x, w, b, y, pool, scratch);
            return;
        }

        Regions r = Carve(scratch, n);
        Span<float> xpad = r.PaddedInputs, wt = r.Weights, ycl = r.ChannelsLast;

        // wt[q, k] = w[k, q]: one row of output channels per patch entry
        wt.Clear();
        Layout.StridedCopy(w, _g.Patch, 1, wt, 1, KPad, _g.K, _g.Patch);

        for (int s = 0; s < n; s++)
        {
            Span<float> xs = xpad.Slice(s * PaddedInput, PaddedInput);
            PadInput(x.Slice(s * _g.InSize, _g.InSize), xs);

            // y[pos, k] = b[k] + Σ_q xpad[corner(pos) + offset(q)] · w[k, q]
            for (int pos = 0; pos < _spatial; pos++)
            {
                b.CopyTo(ycl.Slice(pos * KPad, _g.K));
            }

            for (int pos = 0; pos < _spatial; pos += GatherGemm.Rows)
            {
                Tile(OutWidth, xs, _posBase.AsSpan(pos, GatherGemm.Rows), _patchOffset.AsSpan(0, _g.Patch), wt, KPad, ycl[(pos * KPad)..], KPad, Math.Min(GatherGemm.Rows, _spatial - pos), accumulate: true);
            }

            if (pool.IsEmpty)
            {
                // y[k, pos] = ycl[pos, k]
                Layout.StridedCopy(ycl, 1, KPad, y.Slice(s * _g.OutSize, _g.OutSize), _spatial, 1, _g.K, _spatial);
            }
            else
            {
                PoolChannelsLast(ycl, s, pool, r.Pooled);
            }
        }
    }

    // backward of: y[pos, k] = b[k] + Σ_q xpad[corner(pos) + offset(q)] · w[k, q]
    //   dw[k, q] += Σ_pos dy[pos, k] · xpad[corner(pos) + offset(q)]   (valid correlation of input and delta)
    //   db[k]    += Σ_pos dy[pos, k]
    //   dcol[pos, (i, j), c] = Σ_k dy[pos, k] · w[k, c, i, j];  dxpad[corner(pos) + (i, j), c] += dcol[pos, (i, j), c]
    //   (the full convolution of the delta with the rotated kernel, as a scatter of each position's patch)
    public void Backward(int n, ReadOnlySpan<float> dy, Span<float> dx, ReadOnlySpan<float> w, Span<float> dw, Span<float> db, Span<float> scratch) =>
        Backward(n, dy, default, dx, w, dw, db, scratch);

    // dy, or (pooled not empty) each sample's dy made from the pooled delta just before it is used
    private void Backward(int n, ReadOnlySpan<float> dy, PooledDelta pooled, Span<float> dx, ReadOnlySpan<float> w, Span<float> dw, Span<float> db, Span<float> scratch)
    {
        Regions r = Carve(scratch, n);
        Span<float> xpad = r.PaddedInputs, dycl = r.ChannelsLast, dwcl = r.KernelGrad, wr = r.Regrouped, dcol = r.Patches, dxcl = r.InputDelta;
        Span<float> dw6 = r.KernelGrad6, dygrid = r.Grid, biasSums = r.BiasSums;

        dwcl.Clear();
        if (!dx.IsEmpty)
        {
            // wr[k, i, (j, c)] = w[k, c, i, j], each kernel row padded with zeros to the run's pitch: per output channel a
            // transpose of (C, k·k) to (k·k, C), whole where no row is padded, else kernel row by kernel row
            if (_runPitch > _run || DeltaRow > _g.Kernel * _runPitch)
            {
                wr.Clear();
            }

            for (int k = 0; k < _g.K; k++)
            {
                if (_runPitch == _run)
                {
                    Layout.StridedCopy(w[(k * _g.Patch)..], _taps, 1, wr[(k * DeltaRow)..], 1, _g.C, _g.C, _taps);
                    continue;
                }

                for (int i = 0; i < _g.Kernel; i++)
                {
                    Layout.StridedCopy(w[((k * _g.Patch) + (i * _g.Kernel))..], _taps, 1, wr[((k * DeltaRow) + (i * _runPitch))..], 1, _g.C, _g.C, _g.Kernel);
                }
            }
        }

        dw6.Clear();
        for (int s = 0; s < n; s++)
        {
            ReadOnlySpan<float> dys = pooled.IsEmpty ? dy.Slice(s * _g.OutSize, _g.OutSize) : pooled.Sample(s, r.SampleDelta);
            ReadOnlySpan<float> xs = xpad.Slice(s * PaddedInput, PaddedInput);
            Reduce.SumEach(dys, _spatial, biasSums);
            for (int k = 0; k < _g.K; k++)
            {
                db[k] += biasSums[k];
            }

            if (_byPosition)
            {
                // dw[k, q] += Σ_g dygrid[k, g] · xpad[g + offset(q)], junk columns of the grid zero
                // (in 8 logical lanes whatever the CPU: SpatialKernels.KernelGradient)
                dygrid.Clear();
                for (int k = 0; k < _g.K; k++)
                {
                    for (int oh = 0; oh < _g.OutH; oh++)
                    {
                        dys.Slice((k * _spatial) + (oh * _g.OutW), _g.OutW).CopyTo(dygrid[((k * _grid) + (oh * _wp))..]);
                    }
                }

                SpatialKernels.KernelGradient(xs, _patchOffset.AsSpan(0, _g.Patch), dygrid, _grid, dw6);
            }

            if (!_byPosition || !dx.IsEmpty)
            {
                // dycl[pos, k] = dy[k, pos], lanes past K zero (where there are none, the copy writes every float)
                if (KPad > _g.K)
                {
                    dycl.Clear();
                }

                Layout.StridedCopy(dys, _spatial, 1, dycl, 1, KPad, _g.K, _spatial);
            }

            if (!_byPosition)
            {
                // each lane sums the positions in order: no horizontal sum
                for (int q = 0; q < _g.Patch; q += GatherGemm.Rows)
                {
                    Tile(OutWidth, xs, _patchOffset.AsSpan(q, GatherGemm.Rows), _posBase.AsSpan(0, _spatial), dycl, KPad, dwcl[(q * KPad)..], KPad, Math.Min(GatherGemm.Rows, _g.Patch - q), accumulate: true);
                }
            }

            if (dx.IsEmpty)
            {
                continue;
            }

            // dcol[pos, (i, j), c] = Σ_k dy[pos, k] · w[k, c, i, j] for one tile of positions, added into dxcl while it is
            // in L1 (the whole dcol of a sample, S·DeltaRow floats, went out to L2 and back: lenet5's second conv 64 KB).
            // Tiles in order of position and each tile's patches in that order: every element's terms in the same order
            dxcl.Clear();
            for (int pos = 0; pos < _spatial; pos += GatherGemm.Rows)
            {
                int rows = Math.Min(GatherGemm.Rows, _spatial - pos);
                Tile(DeltaWidth, dycl, _posRow.AsSpan(pos, GatherGemm.Rows), _channel, wr, DeltaRow, dcol, DeltaRow, rows, accumulate: false);
                ScatterPatches(dcol, dxcl, pos, rows);
            }
            // dx[c, ih, iw] = dxpad[ih + p, iw + p, c]: a transpose of each input row (W positions by C channels)
            Span<float> dxs = dx.Slice(s * _g.InSize, _g.InSize);
            for (int ih = 0; ih < _g.H; ih++)
            {
                Layout.StridedCopy(dxcl[((((ih + _g.Pad) * _wp) + _g.Pad) * _g.C)..], 1, _g.C, dxs[(ih * _g.W)..], _g.H * _g.W, 1, _g.C, _g.W);
            }
        }

        // dw[k, q] += dwcl[q, k]: the channels-last sums transposed into wr (free by now), then one addition each
        ReadOnlySpan<float> channelsLast = _byPosition ? dw6 : dwcl;
        int pitch = _byPosition ? SpatialKernels.Channels : KPad, weights = _g.K * _g.Patch;
        Layout.StridedCopy(channelsLast, 1, pitch, wr, _g.Patch, 1, _g.K, _g.Patch);
        TensorPrimitives.Add(dw[..weights], wr[..weights], dw[..weights]);
    }

    // y[k, oh, ow] = b[k] + Σ_q w[k, q] · xpad[oh·Wp + ow + offset(q)]: vectors over positions of the grid
    private void ForwardByPosition(int n, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> b, Span<float> y, PoolTarget pool, Span<float> scratch)
    {
        Regions r = Carve(scratch, n);
        Span<float> xpad = r.PaddedInputs, w6 = r.Weights6, ygrid = r.Grid;
        const int six = SpatialKernels.Channels;
        int p6 = _g.Patch * six;

        // w6[group, q, k] = w[6·group + k, q], channels past K zero
        w6.Clear();
        for (int group = 0; group < _groups; group++)
        {
            Layout.StridedCopy(w[(group * six * _g.Patch)..], _g.Patch, 1, w6[(group * p6)..], 1, six, Math.Min(six, _g.K - (group * six)), _g.Patch);
        }

        for (int s = 0; s < n; s++)
        {
            Span<float> xs = xpad.Slice(s * PaddedInput, PaddedInput);
            PadInput(x.Slice(s * _g.InSize, _g.InSize), xs);
            Span<float> ys = pool.IsEmpty ? y.Slice(s * _g.OutSize, _g.OutSize) : default;
            for (int group = 0; group < _groups; group++)
            {
                int first = group * six, channels = Math.Min(six, _g.K - first);
                ReadOnlySpan<float> wg = w6.Slice(group * p6, p6);
                switch (Simd.Widest)
                {
                    case VectorWidth.W512:
                        SpatialKernels.Forward<V512, Vector512<float>>(xs, _patchOffset.AsSpan(0, _g.Patch), wg, ygrid, _grid, channels);
                        break;
                    case VectorWidth.W256:
                        SpatialKernels.Forward<V256, Vector256<float>>(xs, _patchOffset.AsSpan(0, _g.Patch), wg, ygrid, _grid, channels);
                        break;
                    default:
                        SpatialKernels.Forward<V128, Vector128<float>>(xs, _patchOffset.AsSpan(0, _g.Patch), wg, ygrid, _grid, channels);
                        break;
                }

                if (!pool.IsEmpty)
                {
                    PoolGrid(ygrid, s, first, channels, b, pool);
                    continue;
                }

                // y[k, oh, :] = ygrid[k, oh·Wp .. + Wo] + b[k]: the grid's junk columns dropped
                for (int k = 0; k < channels; k++)
                {
                    Layout.AddRows(ygrid[(k * _grid)..], _wp, ys[((first + k) * _spatial)..], _g.OutW, _g.OutH, _g.OutW, b[first + k]);
                }
            }
        }
    }

    /// <summary>xpad (C, H + 2p, W + 2p) = x (C, H, W) with a zero border.</summary>
    private void PadInput(ReadOnlySpan<float> x, Span<float> xpad)
    {
        if (_g.Pad == 0)
        {
            x.CopyTo(xpad);
            xpad[x.Length..].Clear();
            return;
        }

        xpad.Clear();
        for (int c = 0; c < _g.C; c++)
        {
            for (int ih = 0; ih < _g.H; ih++)
            {
                x.Slice((c * _g.H * _g.W) + (ih * _g.W), _g.W).CopyTo(xpad[((c * _plane) + ((ih + _g.Pad) * _wp) + _g.Pad)..]);
            }
        }
    }

    private static void Tile(VectorWidth width, ReadOnlySpan<float> a, ReadOnlySpan<int> rowBase, ReadOnlySpan<int> offsets, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc, int validRows, bool accumulate) =>
        GatherGemm.Tile(width, a, rowBase, offsets, b, ldb, ldb == ldc ? ldb / (int)width : throw new ArgumentException("B and C rows differ"), c, ldc, validRows, accumulate);
}

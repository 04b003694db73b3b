using CnnCluster.Engine.Kernels;
using CnnCluster.Engine.Layers;
using CnnCluster.Engine.Tensors;
using Xunit;

namespace CnnCluster.Engine.Tests;

/// <summary>
/// Seeded random geometries of every layer with a fast path against the plain forms of the same math
/// (y, dx, dw, db): 500 convolutions (channels and outputs 1–32, kernels 1–7, strides 1–3, pads 0–3,
/// sizes from the kernel to 40, batches 1–5) on both forward paths, and map combinations, pools and
/// dense layers. Every operand sits in a <see cref="GuardedBuffer"/>: outputs and scratch start as NaN,
/// canaries around every buffer must stay untouched and inputs unchanged.
/// </summary>
public sealed class LayerFuzzTests
{
    private const int ConvCasesPerBatch = 50;

    public static TheoryData<int> ConvBatches => [.. Enumerable.Range(0, 10)];

    public static TheoryData<int> OtherBatches => [.. Enumerable.Range(0, 4)];

    [Theory]
    [MemberData(nameof(ConvBatches))]
    public void ConvolutionsMatchTheLiteralForm(int batch)
    {
        for (int i = 0; i < ConvCasesPerBatch; i++)
        {
            int seed = (batch * ConvCasesPerBatch) + i;
            var rng = Rng.For(0xF022, (ulong)seed);
            (ConvGeometry g, int n) = ConvCase(rng, seed);
            float[] x = TestData.Gaussian(rng, n * g.InSize), w = TestData.Gaussian(rng, g.WeightCount), b = TestData.Gaussian(rng, g.K), dy = TestData.Gaussian(rng, n * g.OutSize);
            var yRef = new float[n * g.OutSize];
            var dxRef = new float[x.Length];
            var dwRef = new float[w.Length];
            var dbRef = new float[b.Length];
            ConvReference.Forward(g, n, x, w, b, yRef);
            ConvReference.Backward(g, n, x, dy, dxRef, dwRef, dbRef, w);

            // by channels; by position (both passes, few output channels); and what production chooses where that is
            // another path (the forward alone by position, for one input channel)
            bool?[] paths = g.Stride == 1 && g.K <= SpatialKernels.Channels ? [false, true] : g.Stride == 1 && g.C == 1 ? [false, null] : [false];
            float[]? byChannels = null;
            foreach (bool? byPosition in paths)
            {
                var conv = new ConvDirect(g, byPosition);
                string what = $"case {seed}: conv {g.C}->{g.K} k{g.Kernel} s{g.Stride} p{g.Pad} on {n}x{g.H}x{g.W} {(byPosition switch { false => "by channels", true => "by position", null => "forward by position" })}";
                GuardedBuffer gx = GuardedBuffer.Of(x), gw = GuardedBuffer.Of(w), gb = GuardedBuffer.Of(b), gdy = GuardedBuffer.Of(dy);
                GuardedBuffer y = GuardedBuffer.Poisoned(yRef.Length), dx = GuardedBuffer.Poisoned(x.Length), scratch = GuardedBuffer.Poisoned(conv.ScratchSize(n));
                GuardedBuffer dw = GuardedBuffer.Zeroed(w.Length), db = GuardedBuffer.Zeroed(b.Length);
                conv.Forward(n, gx.Span, gw.Span, gb.Span, y.Span, scratch.Span);
                conv.Backward(n, gdy.Span, dx.Span, gw.Span, dw.Span, db.Span, scratch.Span);

                Agreement.AssertClose(yRef, y.ToArray(), $"{what}: y", ofLargest: 1e-5);
                // every forward path sums the same terms in the same order: the same bits (the numeric contract)
                byChannels ??= y.ToArray();
                Assert.True(byChannels.AsSpan().SequenceEqual(y.Span), $"{what}: y differs in its bits from the forward by channels");
                Agreement.AssertClose(dxRef, dx.ToArray(), $"{what}: dx", ofLargest: 1e-5);
                Agreement.AssertClose(dwRef, dw.ToArray(), $"{what}: dw", ofLargest: 1e-5);
                Agreement.AssertClose(dbRef, db.ToArray(), $"{what}: db", ofLargest: 1e-5);
                GuardedRun.AssertGuards(what, [(y, "y"), (dx, "dx"), (dw, "dw"), (db, "db"), (scratch, "scratch")], [(gx, x, "x"), (gw, w, "w"), (gb, b, "b"), (gdy, dy, "dy")]);
            }
        }
    }

    [Theory]
    [MemberData(nameof(OtherBatches))]
    public void MapCombinationsMatchThePlainForm(int batch)
    {
        for (int i = 0; i < 15; i++)
        {
            int seed = (batch * 15) + i;
            var rng = Rng.For(0xF0C0, (ulong)seed);
            (ConvGeometry g, int n) = ConvCase(rng, seed, stride: 1);
            var layer = new MapCombination(new Shape3(g.C, g.H, g.W), g.K, g.Kernel, g.Pad);
            float[] x = TestData.Gaussian(rng, n * g.InSize), p = TestData.Gaussian(rng, layer.ParameterCount), dy = TestData.Gaussian(rng, n * g.OutSize);

            // reference: W_eff = softmax_i(c[j, ·]) · k[j, i], then the literal convolution
            int kk = g.Kernel * g.Kernel, alphas = g.K * g.C;
            float[] k = p[..g.WeightCount], c = p[g.WeightCount..(g.WeightCount + alphas)], b = p[(g.WeightCount + alphas)..];
            var alpha = new double[alphas];
            for (int j = 0; j < g.K; j++)
            {
                double max = Enumerable.Range(0, g.C).Max(ii => (double)c[(j * g.C) + ii]);
                double sum = Enumerable.Range(0, g.C).Sum(ii => Math.Exp(c[(j * g.C) + ii] - max));
                for (int ii = 0; ii < g.C; ii++)
                {
                    alpha[(j * g.C) + ii] = Math.Exp(c[(j * g.C) + ii] - max) / sum;
                }
            }

            float[] wEff = [.. Enumerable.Range(0, g.WeightCount).Select(t => (float)(alpha[t / kk] * k[t]))];
            var yRef = new float[n * g.OutSize];
            var dxRef = new float[x.Length];
            var dwEff = new float[g.WeightCount];
            var dbRef = new float[g.K];
            ConvReference.Forward(g, n, x, wEff, b, yRef);
            ConvReference.Backward(g, n, x, dy, dxRef, dwEff, dbRef, wEff);
            var dpRef = new float[p.Length];
            var dAlpha = new double[alphas];
            for (int t = 0; t < g.WeightCount; t++)
            {
                dpRef[t] = (float)(alpha[t / kk] * dwEff[t]);
                dAlpha[t / kk] += (double)k[t] * dwEff[t];
            }

            for (int j = 0; j < g.K; j++)
            {
                double dot = Enumerable.Range(0, g.C).Sum(ii => alpha[(j * g.C) + ii] * dAlpha[(j * g.C) + ii]);
                for (int ii = 0; ii < g.C; ii++)
                {
                    dpRef[g.WeightCount + (j * g.C) + ii] = (float)(alpha[(j * g.C) + ii] * (dAlpha[(j * g.C) + ii] - dot));
                }
            }

            dbRef.CopyTo(dpRef, g.WeightCount + alphas);
            RunLayer(layer, n, x, p, dy, yRef, dxRef, dpRef, $"case {seed}: {layer.Describe()} on {n}x{g.H}x{g.W}");
        }
    }

    [Theory]
    [MemberData(nameof(OtherBatches))]
    public void PoolsMatchThePlainForm(int batch)
    {
        for (int i = 0; i < 15; i++)
        {
            int seed = (batch * 15) + i;
            var rng = Rng.For(0xF0F0, (ulong)seed);
            int size = 1 + rng.NextInt(4), c = 1 + rng.NextInt(32), h = size + rng.NextInt(41 - size), w = size + rng.NextInt(41 - size), n = 1 + rng.NextInt(5);
            var input = new Shape3(c, h, w);
            int oh = h / size, ow = w / size;
            float[] x = TestData.Gaussian(rng, n * input.Size), dy = TestData.Gaussian(rng, n * c * oh * ow);
            var yMax = new float[dy.Length];
            var dxMax = new float[x.Length];
            var yAvg = new float[dy.Length];
            var dxAvg = new float[x.Length];
            for (int q = 0; q < n * c; q++)
            {
                for (int oi = 0; oi < oh; oi++)
                {
                    for (int oj = 0; oj < ow; oj++)
                    {
                        int o = (q * oh * ow) + (oi * ow) + oj, best = -1;
                        double sum = 0;
                        for (int a = 0; a < size; a++)
                        {
                            for (int bb = 0; bb < size; bb++)
                            {
                                int at = (q * h * w) + (((oi * size) + a) * w) + (oj * size) + bb;
                                sum += x[at];
                                if (best < 0 || x[at] > x[best])
                                {
                                    best = at;
                                }
                            }
                        }

                        yMax[o] = x[best];
                        dxMax[best] += dy[o];
                        yAvg[o] = (float)(sum / (size * size));
                        for (int a = 0; a < size; a++)
                        {
                            for (int bb = 0; bb < size; bb++)
                            {
                                dxAvg[(q * h * w) + (((oi * size) + a) * w) + (oj * size) + bb] = dy[o] / (size * size);
                            }
                        }
                    }
                }
            }

            RunLayer(new MaxPool2d(input, size), n, x, [], dy, yMax, dxMax, [], $"case {seed}: maxpool {size} on {n}x{c}x{h}x{w}");
            RunLayer(new AvgPool2d(input, size), n, x, [], dy, yAvg, dxAvg, [], $"case {seed}: avgpool {size} on {n}x{c}x{h}x{w}");
        }
    }

    [Theory]
    [MemberData(nameof(OtherBatches))]
    public void DenseLayersMatchThePlainForm(int batch)
    {
        for (int i = 0; i < 15; i++)
        {
            int seed = (batch * 15) + i;
            var rng = Rng.For(0xF0DE, (ulong)seed);
            int inputs = 1 + rng.NextInt(400), outputs = 1 + rng.NextInt(130), n = 1 + rng.NextInt(21);
            var layer = new Dense(new Shape3(inputs, 1, 1), outputs);
            float[] x = TestData.Gaussian(rng, n * inputs), p = TestData.Gaussian(rng, layer.ParameterCount), dy = TestData.Gaussian(rng, n * outputs);
            var y = new float[n * outputs];
            var dx = new float[x.Length];
            var dp = new float[p.Length];
            for (int s = 0; s < n; s++)
            {
                for (int o = 0; o < outputs; o++)
                {
                    double sum = p[(outputs * inputs) + o];
                    for (int t = 0; t < inputs; t++)
                    {
                        sum += (double)p[(o * inputs) + t] * x[(s * inputs) + t];
                        dx[(s * inputs) + t] += p[(o * inputs) + t] * dy[(s * outputs) + o];
                        dp[(o * inputs) + t] += dy[(s * outputs) + o] * x[(s * inputs) + t];
                    }

                    y[(s * outputs) + o] = (float)sum;
                    dp[(outputs * inputs) + o] += dy[(s * outputs) + o];
                }
            }

            RunLayer(layer, n, x, p, dy, y, dx, dp, $"case {seed}: dense {inputs}->{outputs}, batch {n}");
        }
    }

    /// <summary>A geometry within the ranges, redrawn until the literal form stays cheap (≤ 4·10⁶ multiply-adds a pass).</summary>
    private static (ConvGeometry G, int N) ConvCase(Rng rng, int seed, int? stride = null)
    {
        while (true)
        {
            // a third of the cases take the by-position shapes (stride 1, at most 6 outputs), a sixth one input channel at stride 1 (the forward by position)
            bool narrow = seed % 3 == 0, single = seed % 6 == 1;
            int c = single ? 1 : 1 + rng.NextInt(32), k = 1 + rng.NextInt(narrow ? SpatialKernels.Channels : 32);
            int kernel = 1 + rng.NextInt(7), s = stride ?? (narrow || single ? 1 : 1 + rng.NextInt(3)), pad = rng.NextInt(4);
            int h = kernel + rng.NextInt(41 - kernel), w = kernel + rng.NextInt(41 - kernel), n = 1 + rng.NextInt(5);
            var g = new ConvGeometry(c, h, w, k, kernel, s, pad);
            if ((long)n * g.OutSize * c * kernel * kernel <= 4_000_000)
            {
                return (g, n);
            }
        }
    }

    private static void RunLayer(Layer layer, int n, float[] x, float[] p, float[] dy, float[] yRef, float[] dxRef, float[] dpRef, string what)
    {
        (float[] y, float[] dx, float[] dp) = GuardedRun.Layer(layer, n, x, p, dy, what);
        Agreement.AssertClose(yRef, y, $"{what}: y", ofLargest: 1e-5);
        Agreement.AssertClose(dxRef, dx, $"{what}: dx", ofLargest: 1e-5);
        Agreement.AssertClose(dpRef, dp, $"{what}: dp", ofLargest: 1e-5);
    }
}

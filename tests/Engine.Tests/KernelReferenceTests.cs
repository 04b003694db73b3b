using System.Reflection;
using System.Runtime.Intrinsics;
using CnnCluster.Engine.Kernels;
using CnnCluster.Engine.Tensors;
using Xunit;

namespace CnnCluster.Engine.Tests;

/// <summary>The fast kernels against the plain forms of the same math.</summary>
public sealed class KernelReferenceTests
{
    [Theory]
    [InlineData(VectorWidth.W128, 1, 7, 3)]
    [InlineData(VectorWidth.W256, 2, 25, 8)]
    [InlineData(VectorWidth.W256, 3, 9, 3)]
    [InlineData(VectorWidth.W256, 4, 288, 5)]
    [InlineData(VectorWidth.W512, 3, 150, 5)]
    [InlineData(VectorWidth.W512, 1, 1, 1)]
    [InlineData(VectorWidth.W256, 3, 40, 8)]   // three vectors a pass on AVX2 (Three)
    [InlineData(VectorWidth.W256, 3, 17, 4)]   // ... the second four rows not written
    [InlineData(VectorWidth.W256, 5, 33, 6)]   // three, then two
    [InlineData(VectorWidth.W256, 7, 12, 5)]   // three, then two and two
    [InlineData(VectorWidth.W256, 6, 2, 1)]
    [InlineData(VectorWidth.W512, 3, 21, 7)]   // six 256-bit vectors
    public void TheGatherTileIsItsPlainForm(VectorWidth width, int vectors, int terms, int validRows)
    {
        // a logical width wider than this CPU's registers runs as several narrower vectors: the same bits
        var rng = new Rng((ulong)(terms * 31 + vectors));
        int lanes = (int)width, ldb = vectors * lanes + 3, ldc = vectors * lanes + 5;
        float[] a = TestData.Gaussian(rng, 4000);
        int[] rows = Enumerable.Range(0, GatherGemm.Rows).Select(r => rng.NextInt(1000)).ToArray();
        int[] offsets = Enumerable.Range(0, terms).Select(t => t * 7 + rng.NextInt(5)).ToArray();
        float[] b = TestData.Gaussian(rng, terms * ldb);
        foreach (bool accumulate in new[] { false, true })
        {
            float[] fast = TestData.Gaussian(rng, GatherGemm.Rows * ldc);
            float[] plain = (float[])fast.Clone();
            GatherGemm.Tile(width, a, rows, offsets, b, ldb, vectors, fast, ldc, validRows, accumulate);
            GatherGemm.TileReference(a, rows, offsets, b, ldb, vectors * lanes, plain, ldc, validRows, accumulate);
            Assert.Equal(plain, fast); // same terms in the same order, fused: bit for bit
        }
    }

    [Theory]
    [InlineData(8, 120, 400)]
    [InlineData(5, 84, 120)]
    [InlineData(3, 10, 84)]
    [InlineData(7, 9, 13)]
    [InlineData(1, 1, 1)]
    public void MatrixProductsAreTheTripleLoop(int m, int k, int n)
    {
        var rng = new Rng((ulong)(m * 10007 + k * 101 + n));
        float[] a = TestData.Gaussian(rng, m * k), at = Transpose(a, m, k), b = TestData.Gaussian(rng, k * n), bt = Transpose(b, k, n);
        float[] c0 = TestData.Gaussian(rng, m * n);
        var expected = new double[m * n];
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                expected[i * n + j] = c0[i * n + j];
                for (int p = 0; p < k; p++)
                {
                    expected[i * n + j] += (double)a[i * k + p] * b[p * n + j];
                }
            }
        }

        float[] c = (float[])c0.Clone();
        Gemm.MatMulAdd(a, b, c, m, k, n);
        AssertClose(expected, c, "A·B");
        c = (float[])c0.Clone();
        Gemm.MatMulTransAAdd(at, b, c, m, k, n);
        AssertClose(expected, c, "(Aᵀ)ᵀ·B");
        c = (float[])c0.Clone();
        Gemm.MatMulTransBAdd(a, bt, c, m, k, n);
        AssertClose(expected, c, "A·(Bᵀ)ᵀ");
    }

    [Fact]
    public void ActivationGradientsAreTheirScalarForms()
    {
        var rng = new Rng(77);
        float[] y = TestData.Gaussian(rng, 133), dy = TestData.Gaussian(rng, 133);
        y[5] = 0f;
        y[6] = -0f;
        Check<ReluGrad>(y, dy);
        Check<TanhGrad>(y, dy);
        Check<SigmoidGrad>(y, dy);

        static void Check<TOp>(float[] y, float[] dy)
            where TOp : struct, IBinaryOperator
        {
            var fast = new float[y.Length];
            Elementwise.Map<TOp>(y, dy, fast);
            for (int i = 0; i < y.Length; i++)
            {
                Assert.Equal(TOp.Invoke(y[i], dy[i]), fast[i]);
            }
        }
    }

    [Theory]
    [InlineData(28, 28)]
    [InlineData(10, 10)]
    [InlineData(7, 13)]
    [InlineData(6, 6)]
    [InlineData(8, 8)]
    [InlineData(4, 18)]
    [InlineData(5, 11)]
    [InlineData(7, 7)]   // rows of 3 windows (convnet's third pooling): each spills into the next row's outputs
    [InlineData(5, 5)]
    [InlineData(9, 3)]
    [InlineData(14, 7)]
    public void TwoByTwoMaxPoolIsTheFirstMaximumInWindowOrder(int h, int w)
    {
        // ties (ReLU zeros), NaNs and infinities, against the plain rule: strictly greater, or a NaN over a number
        var rng = new Rng((ulong)(h * 100 + w));
        const int n = 2, c = 3;
        var x = new float[n * c * h * w];
        for (int i = 0; i < x.Length; i++)
        {
            int kind = rng.NextInt(10);
            x[i] = kind switch { 0 => float.NaN, 1 => 0f, 2 => 0f, 3 => float.PositiveInfinity, 4 => float.NegativeInfinity, _ => (float)rng.NextGaussian() };
        }

        var layer = new Layers.MaxPool2d(new Shape3(c, h, w), 2);
        GuardedBuffer output = GuardedBuffer.Poisoned(n * layer.Output.Size), work = GuardedBuffer.Poisoned(layer.ScratchSize(n));
        layer.Forward(n, x, output.Span, [], work.Span);
        output.AssertCanaries("y");
        work.AssertCanaries("scratch");
        float[] y = output.ToArray();
        int[] argmax = System.Runtime.InteropServices.MemoryMarshal.Cast<float, int>(work.Span).ToArray();
        int o = 0;
        for (int q = 0; q < n * c; q++)
        {
            for (int i = 0; i < h / 2; i++)
            {
                for (int j = 0; j < w / 2; j++, o++)
                {
                    int corner = q * h * w + 2 * i * w + 2 * j, best = corner;
                    foreach (int at in new[] { corner, corner + 1, corner + w, corner + w + 1 })
                    {
                        if (x[at] > x[best] || (float.IsNaN(x[at]) && !float.IsNaN(x[best])))
                        {
                            best = at;
                        }
                    }

                    Assert.Equal(best, argmax[o]);
                    Assert.Equal(x[best], y[o]);
                }
            }
        }
    }

    private static float[] Transpose(float[] x, int rows, int cols)
    {
        var t = new float[x.Length];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++)
            {
                t[c * rows + r] = x[r * cols + c];
            }
        }

        return t;
    }

    private static void AssertClose(double[] expected, float[] actual, string what)
    {
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-4 * Math.Max(1, Math.Abs(expected[i])), $"{what}[{i}]: {expected[i]} vs {actual[i]}");
        }
    }

    [Fact]
    public void TheCheckedBuildBoundsChecksEveryKernelAccess()
    {
        // built with -c Checked, the engine routes every kernel access through span indexers and slices
        string configuration = typeof(Mem).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()!.Configuration;
        Assert.True((configuration == "Checked") == Mem.Checked, $"the engine's {configuration} build has Mem.Checked = {Mem.Checked}");
#if CHECKED_KERNELS
        Assert.True(Mem.Checked, "the test is a checked build but the engine is not");
        float[] three = new float[3];
        Assert.Throws<ArgumentOutOfRangeException>(() => new Cursor(three).Load<V128, Vector128<float>>(0));
        Assert.Throws<IndexOutOfRangeException>(() => new Cursor(three).Get(3));
        Assert.Throws<IndexOutOfRangeException>(() => new Cursor(three).Set(-1, 1f));
        Assert.Throws<ArgumentException>(() => Mem.RequireAscending(new[] { 0, 5, 4 }));
#else
        Assert.False(Mem.Checked, "the engine is a checked build but the test is not");
#endif
    }

    [Fact]
    public void TheSixteenLaneSumIsItsPlainFormOnEveryWidth()
    {
        var rng = new Rng(0x5E11);
        for (int n = 0; n <= 100; n++)
        {
            float[] x = TestData.Gaussian(rng, n);
            if (n > 3)
            {
                x[1] = -0f;
                x[n / 2] = 1e30f;
                x[n - 1] = -1e30f;
            }

            uint expected = BitConverter.SingleToUInt32Bits(Reduce.SumReference(x));
            foreach ((string width, float sum) in new[] { ("128", Reduce.Sum<V128, Vector128<float>>(x)), ("256", Reduce.Sum<V256, Vector256<float>>(x)), ("512", Reduce.Sum<V512, Vector512<float>>(x)), ("here", Reduce.Sum(x)) })
            {
                Assert.True(expected == BitConverter.SingleToUInt32Bits(sum), $"n = {n}, {width}-bit: {sum:R}, plain {Reduce.SumReference(x):R}");
            }
        }

        Assert.True(float.IsNaN(Reduce.Sum([1f, float.NaN, 2f])));
        Assert.Equal(float.PositiveInfinity, Reduce.Sum([1f, float.PositiveInfinity]));
    }

    [Theory]
    [InlineData(784, 32)]  // convnet's first conv: 28·28 positions, 32 channels
    [InlineData(100, 16)]
    [InlineData(17, 5)]    // an odd count: the last row alone
    [InlineData(3, 2)]     // rows shorter than the 16 lanes
    [InlineData(0, 3)]
    public void RowSumsAreEachRowsSum(int length, int rows)
    {
        var rng = new Rng((ulong)((length * 131) + rows));
        float[] x = TestData.Gaussian(rng, (length * rows) + 7);
        if (length > 3)
        {
            x[length + 1] = -0f;
            x[length / 2] = 1e30f;
        }

        GuardedBuffer sums = GuardedBuffer.Poisoned(rows);
        Reduce.SumEach(x, length, sums.Span);
        sums.AssertCanaries("sums");
        for (int p = 0; p < rows; p++)
        {
            Assert.Equal(BitConverter.SingleToUInt32Bits(Reduce.SumReference(x.AsSpan(p * length, length))), BitConverter.SingleToUInt32Bits(sums.Span[p]));
        }
    }

    [Theory]
    [InlineData(28, 28, 30)]  // convnet's first conv: 28 rows of 28 at the grid's pitch 30
    [InlineData(3, 10, 12)]
    [InlineData(5, 4, 4)]
    [InlineData(2, 3, 7)]     // narrower than any vector
    [InlineData(4, 17, 17)]
    public void GridRowsPlusABiasAreEachValuePlusIt(int rows, int width, int pitch)
    {
        var rng = new Rng((ulong)((rows * 97) + width));
        float[] grid = TestData.Gaussian(rng, ((rows - 1) * pitch) + width);
        GuardedBuffer y = GuardedBuffer.Poisoned(rows * width);
        Layout.AddRows(grid, pitch, y.Span, width, rows, width, 0.3f);
        y.AssertCanaries("rows");
        for (int r = 0; r < rows; r++)
        {
            for (int j = 0; j < width; j++)
            {
                Assert.Equal(BitConverter.SingleToUInt32Bits(grid[(r * pitch) + j] + 0.3f), BitConverter.SingleToUInt32Bits(y.Span[(r * width) + j]));
            }
        }
    }
}

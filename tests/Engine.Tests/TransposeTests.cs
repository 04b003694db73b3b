using CnnCluster.Engine.Kernels;
using Xunit;

namespace CnnCluster.Engine.Tests;

/// <summary>
/// The blocked transpose between channels-last tiles and NCHW planes against the plain strided copy: every value
/// where the plain loop puts it, nothing written outside the transposed places (the rest stays NaN, the canaries
/// whole), for shapes with and without whole 8×8 blocks and pitches wider than the rows.
/// </summary>
public sealed class TransposeTests
{
    [Theory]
    [InlineData(1, 1, 0, 0)]
    [InlineData(8, 8, 0, 0)]
    [InlineData(784, 32, 0, 0)]   // convnet's first conv: 28·28 positions by 32 channels
    [InlineData(784, 6, 2, 0)]
    [InlineData(32, 784, 0, 0)]
    [InlineData(13, 21, 3, 5)]
    [InlineData(16, 9, 0, 7)]
    [InlineData(7, 7, 1, 1)]
    [InlineData(100, 8, 8, 3)]
    public void TheBlockedTransposeMovesEveryValueWhereThePlainLoopDoes(int rows, int cols, int srcExtra, int dstExtra)
    {
        int srcPitch = cols + srcExtra, dstPitch = rows + dstExtra;
        var random = new Random((rows * 131) + cols);
        float[] values = Enumerable.Range(0, ((rows - 1) * srcPitch) + cols).Select(_ => (float)random.NextDouble()).ToArray();
        GuardedBuffer src = GuardedBuffer.Of(values);
        GuardedBuffer fast = GuardedBuffer.Poisoned(((cols - 1) * dstPitch) + rows);
        float[] plain = new float[fast.Length];
        plain.AsSpan().Fill(float.NaN);

        Transpose.Copy(src.Span, srcPitch, fast.Span, dstPitch, rows, cols);
        Layout.Plain(values, 1, srcPitch, plain, dstPitch, 1, cols, rows);

        fast.AssertCanaries("dst");
        src.AssertUnchanged(values, "src");
        Assert.Equal(plain.Select(BitConverter.SingleToInt32Bits), fast.ToArray().Select(BitConverter.SingleToInt32Bits));
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++)
            {
                Assert.Equal(values[(r * srcPitch) + c], fast.Span[(c * dstPitch) + r]);
            }
        }
    }

    [Fact]
    public void BothDirectionsOfTheStridedCopyTakeTheTransposeAndAgreeWithThePlainLoop()
    {
        var random = new Random(5);
        float[] ycl = Enumerable.Range(0, 50 * 40).Select(_ => (float)random.NextDouble()).ToArray(); // (50 positions, pitch 40), 33 channels
        float[] y = new float[33 * 50], yPlain = new float[33 * 50];
        Layout.StridedCopy(ycl, 1, 40, y, 50, 1, 33, 50);
        Layout.Plain(ycl, 1, 40, yPlain, 50, 1, 33, 50);
        Assert.Equal(yPlain, y);

        float[] back = new float[50 * 40], backPlain = new float[50 * 40];
        Layout.StridedCopy(y, 50, 1, back, 1, 40, 33, 50);
        Layout.Plain(y, 50, 1, backPlain, 1, 40, 33, 50);
        Assert.Equal(backPlain, back);
    }
}

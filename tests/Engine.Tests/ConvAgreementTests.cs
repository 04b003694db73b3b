using CnnCluster.Engine.Kernels;
using CnnCluster.Engine.Tensors;
using Xunit;

namespace CnnCluster.Engine.Tests;

/// <summary>The production convolutions (direct, and im2col + GEMM) agree with the literal Bouvrie form.</summary>
public sealed class ConvAgreementTests
{
    public static TheoryData<int, int, int, int, int, int, int> Shapes => new()
    {
        { 1, 28, 28, 6, 5, 1, 2 },
        { 6, 14, 14, 16, 5, 1, 0 },
        { 3, 9, 7, 4, 3, 2, 1 },
        { 2, 11, 13, 3, 4, 3, 2 },
        { 4, 5, 5, 2, 1, 1, 0 },
        { 2, 6, 8, 3, 3, 2, 0 },
        { 12, 7, 6, 20, 3, 1, 1 },
        { 9, 8, 8, 33, 3, 2, 2 },
        { 1, 4, 4, 1, 4, 1, 0 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void ForwardAndBackwardMatchTheReference(int c, int h, int w, int k, int kernel, int stride, int pad)
    {
        var g = new ConvGeometry(c, h, w, k, kernel, stride, pad);
        const int n = 3;
        var rng = new Rng((ulong)(c * 1000 + h * 10 + kernel));
        float[] x = TestData.Gaussian(rng, n * g.InSize);
        float[] wt = TestData.Gaussian(rng, g.WeightCount);
        float[] b = TestData.Gaussian(rng, g.K);
        float[] dy = TestData.Gaussian(rng, n * g.OutSize);

        var yFast = new float[n * g.OutSize];
        var yRef = new float[n * g.OutSize];
        ConvIm2Col.Forward(g, n, x, wt, b, yFast, new float[ConvIm2Col.ScratchSize(g)]);
        ConvReference.Forward(g, n, x, wt, b, yRef);
        Agreement.AssertClose(yRef, yFast, "y");

        var dxFast = new float[x.Length];
        var dwFast = new float[wt.Length];
        var dbFast = new float[b.Length];
        var dxRef = new float[x.Length];
        var dwRef = new float[wt.Length];
        var dbRef = new float[b.Length];
        ConvIm2Col.Backward(g, n, x, dy, dxFast, wt, dwFast, dbFast, new float[ConvIm2Col.ScratchSize(g)]);
        ConvReference.Backward(g, n, x, dy, dxRef, dwRef, dbRef, wt);
        Agreement.AssertClose(dxRef, dxFast, "dx");
        Agreement.AssertClose(dwRef, dwFast, "dw");
        Agreement.AssertClose(dbRef, dbFast, "db");

        var conv = new ConvDirect(g);
        var scratch = new float[conv.ScratchSize(n)];
        Array.Fill(scratch, float.NaN); // the kernels must not read what they did not write
        var yDirect = new float[n * g.OutSize];
        conv.Forward(n, x, wt, b, yDirect, scratch);
        Agreement.AssertClose(yRef, yDirect, "direct y");
        var dxDirect = new float[x.Length];
        var dwDirect = new float[wt.Length];
        var dbDirect = new float[b.Length];
        conv.Backward(n, dy, dxDirect, wt, dwDirect, dbDirect, scratch);
        Agreement.AssertClose(dxRef, dxDirect, "direct dx");
        Agreement.AssertClose(dwRef, dwDirect, "direct dw");
        Agreement.AssertClose(dbRef, dbDirect, "direct db");
    }

    [Fact]
    public void TheReferenceBackwardIsTheLiteralFullConvolution()
    {
        // one channel, stride 1, no padding, by hand: dx = full_conv(dy, rot180(w))
        var g = new ConvGeometry(1, 3, 3, 1, 2, 1, 0);
        float[] x = [1, 2, 3, 4, 5, 6, 7, 8, 9];
        float[] w = [1, 2, 3, 4];
        float[] dy = [1, 0, 0, 1];
        var dx = new float[9];
        var dw = new float[4];
        var db = new float[1];
        ConvReference.Backward(g, 1, x, dy, dx, dw, db, w);

        // dy(0,0) spreads w onto x(0..1, 0..1); dy(1,1) spreads w onto x(1..2, 1..2)
        Assert.Equal(new float[] { 1, 2, 0, 3, 4 + 1, 2, 0, 3, 4 }, dx);

        // dw = valid_corr(x, dy) = x(i, j) + x(i + 1, j + 1)
        Assert.Equal(new float[] { 1 + 5, 2 + 6, 4 + 8, 5 + 9 }, dw);
        Assert.Equal(2f, db[0]);
    }
}

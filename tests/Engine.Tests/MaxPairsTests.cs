using CnnCluster.Engine.Kernels;
using CnnCluster.Engine.Tensors;
using Xunit;

namespace CnnCluster.Engine.Tests;

/// <summary>
/// <see cref="MaxPairs.Rows"/> reading a conv's grid through its bias and a ReLU (the fused stage's pooling), against
/// the scalar rule (<see cref="PoolRow.Prepare"/>, then the first maximum in window order, a NaN over a number) bit
/// for bit: values with their sign of zero and NaN payloads, and argmax named in another layout. Candidates include
/// −0 under a bias of −0 (max(v, 0) must give +0, as the ReLU layer does), +0, ties, NaNs and infinities; row widths
/// with whole 8-window steps, an overlapping last step, 4-window steps and rows of fewer than 4 windows.
/// </summary>
public sealed class MaxPairsTests
{
    [Theory]
    [InlineData(14, true)]   // lenet5's and convnet's first pools: an 8-window step, then one overlapping it
    [InlineData(16, true)]
    [InlineData(8, true)]
    [InlineData(5, true)]    // 4-window steps
    [InlineData(3, true)]    // fewer than 4: spills into the next row's outputs
    [InlineData(14, false)]
    [InlineData(9, false)]
    public void ReluPoolRowsAreTheScalarRuleBitForBit(int windows, bool relu)
    {
        const int rows = 5, pitch = 37, namePitch = 29, nameStart = 1000;
        var rng = new Rng((ulong)(windows * 10 + (relu ? 1 : 0)));
        foreach (float bias in new[] { -0f, 0f, 0.25f, -0.5f })
        {
            var x = new float[(2 * rows * pitch) + 16];
            for (int i = 0; i < x.Length; i++)
            {
                x[i] = rng.NextInt(9) switch
                {
                    0 => float.NaN,
                    1 => BitConverter.Int32BitsToSingle(unchecked((int)0xFFC01234)), // a NaN of another payload and sign
                    2 => -0f,
                    3 => 0f,
                    4 => float.PositiveInfinity,
                    5 => -0.25f, // with a bias of 0.25: +0 from the add
                    _ => (float)rng.NextGaussian(),
                };
            }

            var row = new PoolRow(3, pitch, nameStart, namePitch, relu, bias);
            int outputs = (rows * windows) + 8; // room for a short row's spill
            var y = new float[outputs];
            var argmax = new int[outputs];
            Array.Fill(y, float.NaN);
            Array.Fill(argmax, -1);
            int done = MaxPairs.Rows(x, row, rows, 2 * pitch, 2 * namePitch, windows, y, argmax, windows);
            if (done == 0)
            {
                return; // no 256-bit vectors here: the caller's scalar loop, which is the rule itself
            }

            Assert.Equal(windows, done);
            for (int r = 0; r < rows; r++)
            {
                for (int j = 0; j < windows; j++)
                {
                    int start = row.Start + (r * 2 * pitch) + (2 * j);
                    int[] reads = [start, start + 1, start + pitch, start + pitch + 1];
                    int[] names = [0, 1, namePitch, namePitch + 1];
                    float best = row.Prepare(x[reads[0]]);
                    int at = 0;
                    for (int c = 1; c < 4; c++)
                    {
                        float v = row.Prepare(x[reads[c]]);
                        if (MaxPairs.Beats(v, best))
                        {
                            best = v;
                            at = c;
                        }
                    }

                    int o = (r * windows) + j;
                    Assert.True(BitConverter.SingleToInt32Bits(best) == BitConverter.SingleToInt32Bits(y[o]), $"bias {bias}, row {r}, window {j}: {best} vs {y[o]}");
                    Assert.Equal(nameStart + (r * 2 * namePitch) + (2 * j) + names[at], argmax[o]);
                }
            }
        }
    }
}

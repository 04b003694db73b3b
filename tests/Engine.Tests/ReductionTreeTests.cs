using CnnCluster.Engine.Tensors;
using CnnCluster.Engine.Training;
using Xunit;

namespace CnnCluster.Engine.Tests;

/// <summary>Any split into aligned blocks sums to exactly the bits of the tree's definition.</summary>
public sealed class ReductionTreeTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(5)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(13)]
    [InlineData(32)]
    public void EveryBlockLevelGivesTheTreeSum(int leaves)
    {
        const int length = 257;
        float[][] values = Leaves(leaves, length);
        float[] expected = TreeSum(values, 0, NextPow2(leaves));
        var plan = new ShardPlan(leaves * 8, 8);
        for (int level = 0; (1 << level) < 2 * leaves; level++)
        {
            var buffers = new GradientBuffers(length);
            var root = new TreeReducer(buffers);
            for (int b = 0; b < plan.BlockCount(level); b++)
            {
                var block = new TreeReducer(buffers);
                (int first, int count) = plan.Block(level, b);
                for (int m = first; m < first + count; m++)
                {
                    float[] leaf = buffers.Rent();
                    values[m].CopyTo(leaf, 0);
                    block.Push(m, 0, leaf, m);
                }

                (float[] value, double loss) = block.Finish();
                root.Push(b << level, level, value, loss);
            }

            (float[] sum, double total) = root.Finish();
            Assert.Equal(expected, sum);
            Assert.Equal(leaves * (leaves - 1) / 2.0, total);
        }
    }

    [Fact]
    public void FloatSumsReallyDependOnOrder()
    {
        // the reason for a fixed tree: a left-to-right sum of the same leaves differs in the last bits
        float[][] values = Leaves(13, 257);
        float[] tree = TreeSum(values, 0, 16);
        var linear = new float[257];
        foreach (float[] v in values)
        {
            for (int i = 0; i < v.Length; i++)
            {
                linear[i] += v[i];
            }
        }

        Assert.NotEqual(tree, linear);
    }

    [Fact]
    public void MisalignedNodesAreRefused()
    {
        var r = new TreeReducer(new GradientBuffers(4));
        Assert.Throws<ArgumentException>(() => r.Push(2, 2, new float[4], 0));
    }

    // the definition: node [lo, lo + size) = left half + right half, a half beyond the leaves is absent
    private static float[] TreeSum(float[][] leaves, int lo, int size)
    {
        if (size == 1)
        {
            return (float[])leaves[lo].Clone();
        }

        float[] left = TreeSum(leaves, lo, size / 2);
        if (lo + size / 2 >= leaves.Length)
        {
            return left;
        }

        float[] right = TreeSum(leaves, lo + size / 2, size / 2);
        for (int i = 0; i < left.Length; i++)
        {
            left[i] += right[i];
        }

        return left;
    }

    private static int NextPow2(int n)
    {
        int p = 1;
        while (p < n)
        {
            p *= 2;
        }

        return p;
    }

    private static float[][] Leaves(int count, int length)
    {
        var rng = new Rng(42);
        return Enumerable.Range(0, count)
            .Select(_ => Enumerable.Range(0, length).Select(_ => (float)(rng.NextGaussian() * Math.Pow(10, rng.NextInt(6) - 3))).ToArray())
            .ToArray();
    }
}

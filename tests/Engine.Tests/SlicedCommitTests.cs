using System.Runtime.InteropServices;
using CnnCluster.Engine.Data;
using CnnCluster.Engine.Layers;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Optim;
using CnnCluster.Engine.Tensors;
using CnnCluster.Engine.Training;
using Xunit;

namespace CnnCluster.Engine.Tests;

/// <summary>
/// The update by parameter slices (what the owners of the sharded all-reduce apply, DESIGN §5) against
/// one whole commit: for any partition, N replicas that each commit their own slice and then exchange
/// slices hold the bits of the whole, and so does the momentum of every owned slice.
/// </summary>
public sealed class SlicedCommitTests
{
    private const int Batch = 32;

    public static TheoryData<string, int, bool> Partitions => new()
    {
        { "lenet5", 1, false }, { "lenet5", 2, false }, { "lenet5", 3, true }, { "lenet5", 4, false }, { "lenet5", 8, true },
        { "bouvrie", 2, false }, { "bouvrie", 3, false }, { "bouvrie", 8, true },
    };

    [Theory]
    [MemberData(nameof(Partitions))]
    public void ReplicasCommittingTheirOwnSlicesHoldTheWholeUpdate(string model, int owners, bool nesterov)
    {
        Network network = Network.Build(Presets.Find(model)!);
        ParameterSlice[] slices = ParameterSlice.Partition(network.ParameterCount, owners);
        TrainingSession whole = Session(network, nesterov);
        TrainingSession[] replicas = Enumerable.Range(0, owners).Select(_ => Session(network, nesterov)).ToArray();
        var rng = Rng.For(0x511CE, (ulong)owners);

        for (int step = 0; step < 4; step++)
        {
            float[] gradient = TestData.Gaussian(rng, network.ParameterCount);
            double lossSum = Batch * (1 + rng.NextDouble());
            whole.BeginStep();
            whole.Commit((float[])gradient.Clone(), lossSum, Batch);

            // reduce-scatter gave owner k the batch's sum over its slice; it commits that slice alone
            for (int k = 0; k < owners; k++)
            {
                replicas[k].BeginStep();
                replicas[k].Commit([new SliceGradient(slices[k], gradient[slices[k].Start..slices[k].End])], lossSum, Batch);
            }

            // all-gather: every replica takes each owner's new slice
            for (int k = 0; k < owners; k++)
            {
                foreach (TrainingSession other in replicas)
                {
                    Array.Copy(replicas[k].Parameters, slices[k].Start, other.Parameters, slices[k].Start, slices[k].Count);
                }
            }

            for (int k = 0; k < owners; k++)
            {
                Assert.Equal(Bits(whole.Parameters), Bits(replicas[k].Parameters));
                Assert.Equal(Bits(whole.Optimizer.Velocity.AsSpan(slices[k].Start, slices[k].Count)), Bits(replicas[k].Optimizer.Velocity.AsSpan(slices[k].Start, slices[k].Count)));
                Assert.Equal(whole.Step, replicas[k].Step);
            }
        }
    }

    /// <summary>Reduce-scatter: an owner that sums only its slice of every block, in the tree's order, gets that slice of the whole sum.</summary>
    [Theory]
    [InlineData(13, 3, 1)]
    [InlineData(32, 4, 2)]
    [InlineData(37, 5, 0)]
    public void TheTreeOverASliceIsThatSliceOfTheTree(int shards, int owners, int blockLevel)
    {
        const int length = 1000;
        var rng = Rng.For(0x511CE, (ulong)shards);
        int blocks = (shards + (1 << blockLevel) - 1) >> blockLevel;
        float[][] partials = Enumerable.Range(0, blocks).Select(_ => TestData.Gaussian(rng, length)).ToArray();

        (float[] whole, double wholeLoss) = Reduce(new GradientBuffers(length), partials, blockLevel, p => (float[])p.Clone());
        foreach (ParameterSlice slice in ParameterSlice.Partition(length, owners))
        {
            (float[] part, double loss) = Reduce(new GradientBuffers(slice.Count), partials, blockLevel, p => p[slice.Start..slice.End]);
            Assert.Equal(Bits(whole.AsSpan(slice.Start, slice.Count)), Bits(part));
            Assert.Equal(wholeLoss, loss);
        }
    }

    private static (float[] Sum, double Loss) Reduce(GradientBuffers buffers, float[][] partials, int level, Func<float[], float[]> take)
    {
        var tree = new TreeReducer(buffers);
        for (int b = 0; b < partials.Length; b++)
        {
            tree.Push(b << level, level, take(partials[b]), b + 0.25);
        }

        return tree.Finish();
    }

    [Fact]
    public void AllSlicesInOneCommitAreTheWholeCommit()
    {
        Network network = Network.Build(Presets.Bouvrie);
        TrainingSession whole = Session(network, nesterov: false), sliced = Session(network, nesterov: false);
        ParameterSlice[] slices = ParameterSlice.Partition(network.ParameterCount, 5);
        float[] gradient = TestData.Gaussian(Rng.For(0x511CE, 99), network.ParameterCount);

        whole.Commit((float[])gradient.Clone(), Batch, Batch);
        sliced.Commit(slices.Select(s => new SliceGradient(s, gradient[s.Start..s.End])).ToArray(), Batch, Batch);

        Assert.Equal(Bits(whole.Parameters), Bits(sliced.Parameters));
        Assert.Equal(Bits(whole.Optimizer.Velocity), Bits(sliced.Optimizer.Velocity));
    }

    /// <summary>The sparsity penalty couples a map's combination weights; a window of them gets exactly its part.</summary>
    [Theory]
    [InlineData(SparsityPenalty.L1)]
    [InlineData(SparsityPenalty.Entropy)]
    public void APenaltyWindowIsThatPartOfTheWholePenalty(SparsityPenalty kind)
    {
        ModelSpec spec = Presets.Bouvrie with
        {
            Layers = [.. Presets.Bouvrie.Layers.Select(l => l.Type == "mapcombination" ? l with { Penalty = kind, Sparsity = 1e-2f } : l)],
        };
        Network network = Network.Build(spec);
        var layer = (MapCombination)network.Layers.Single(l => l is MapCombination);
        Assert.Equal(kind, layer.Penalty);
        float[] p = TestData.Gaussian(Rng.For(0x511CE, 7), layer.ParameterCount);
        var whole = new float[layer.ParameterCount];
        double penalty = layer.Regularize(p, whole);
        Assert.Contains(whole, v => v != 0f);

        var rng = Rng.For(0x511CE, 8);
        for (int trial = 0; trial < 50; trial++)
        {
            int start = rng.NextInt(layer.ParameterCount), count = 1 + rng.NextInt(layer.ParameterCount - start);
            var window = new float[count];
            Assert.Equal(penalty, layer.Regularize(p, window, start));
            Assert.Equal(Bits(whole.AsSpan(start, count)), Bits(window));
        }
    }

    [Theory]
    [InlineData(10, 1)]
    [InlineData(10, 3)]
    [InlineData(61706, 8)]
    [InlineData(7, 7)]
    public void APartitionCoversTheBufferInOrder(int parameters, int owners)
    {
        ParameterSlice[] slices = ParameterSlice.Partition(parameters, owners);
        Assert.Equal(owners, slices.Length);
        Assert.Equal(0, slices[0].Start);
        Assert.Equal(parameters, slices[^1].End);
        Assert.All(slices.Zip(slices.Skip(1)), pair => Assert.Equal(pair.First.End, pair.Second.Start));
        Assert.True(slices.Max(s => s.Count) - slices.Min(s => s.Count) <= 1);
    }

    [Fact]
    public void MoreOwnersThanParametersIsRefused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => ParameterSlice.Partition(3, 4));

    [Fact]
    public void AGradientThatDoesNotFitItsSliceIsRefused()
    {
        Network network = Network.Build(Presets.LeNet5);
        var sgd = new Sgd(network, new SgdOptions());
        Assert.Throws<ArgumentException>(() => sgd.Step(new float[network.ParameterCount], new float[5], 0.1, new ParameterSlice(0, 6)));
        Assert.Throws<ArgumentException>(() => sgd.Step(new float[network.ParameterCount], new float[5], 0.1, new ParameterSlice(network.ParameterCount - 4, 5)));
    }

    private static TrainingSession Session(Network network, bool nesterov)
    {
        const int count = 256;
        var rng = Rng.For(0xDA7A, 1);
        var pixels = new byte[count * 28 * 28];
        var labels = new byte[count];
        for (int i = 0; i < pixels.Length; i++)
        {
            pixels[i] = (byte)rng.NextInt(256);
        }

        (float mean, float std) = LabeledImages.Statistics(pixels);
        var data = new LabeledImages(new Shape3(1, 28, 28), pixels, labels, 10, mean, std);
        var options = new TrainingOptions { Epochs = 1, BatchSize = Batch, LearningRate = 0.05, Seed = 3, Sgd = new SgdOptions(0.9, nesterov, 5e-4) };
        return new TrainingSession(network, options, data, null);
    }

    private static int[] Bits(ReadOnlySpan<float> values) => MemoryMarshal.Cast<float, int>(values).ToArray();
}

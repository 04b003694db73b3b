using CnnCluster.Engine.Data;
using CnnCluster.Engine.Layers;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Training;
using Xunit;

namespace CnnCluster.Engine.Tests;

/// <summary>DESIGN §4 on the real Fashion-MNIST (installed by .ci/run): the thread count never changes a bit.</summary>
public sealed class DeterminismTests
{
    private static readonly Lazy<DatasetSplits> Data = new(() => MnistFormat.Load(null));

    [Theory]
    [InlineData("lenet5", 64, 8)]
    [InlineData("bouvrie", 50, 8)]
    [InlineData("lenet5", 37, 5)]
    public void ThreadCountDoesNotChangeTheParameters(string model, int batch, int shard)
    {
        string one = Train(model, threads: 1, batch, shard, seed: 3);
        string two = Train(model, threads: 2, batch, shard, seed: 3);
        string four = Train(model, threads: 4, batch, shard, seed: 3);
        Assert.Equal(one, two);
        Assert.Equal(one, four);
    }

    /// <summary>LeNet-5 with dropout on conv maps (p 0.25) and on the first dense layer's units (p 0.5).</summary>
    internal static ModelSpec LeNet5WithDropout { get; } = Presets.LeNet5 with
    {
        Name = "lenet5-dropout",
        Layers = [.. Presets.LeNet5.Layers.Take(3), new LayerSpec("dropout") { P = 0.25f }, .. Presets.LeNet5.Layers.Skip(3).Take(5), new LayerSpec("dropout") { P = 0.5f }, .. Presets.LeNet5.Layers.Skip(8)],
    };

    [Theory]
    [InlineData(64, 8)]
    [InlineData(37, 5)]
    public void AugmentationAndDropoutKeepTheContract(int batch, int shard)
    {
        // 12 steps over 600 images cross an epoch's end, where the augmentation draws change
        var options = new TrainingOptions { Epochs = 2, MaxSteps = 12, BatchSize = batch, ShardSize = shard, Seed = 3, Augment = true };
        string one = Train(LeNet5WithDropout, options with { Threads = 1 });
        Assert.Equal(one, Train(LeNet5WithDropout, options with { Threads = 2 }));
        Assert.Equal(one, TrainInBlocks(LeNet5WithDropout, options));

        // both are on: without either the parameters differ
        Assert.NotEqual(one, Train(LeNet5WithDropout, options with { Augment = false }));
        Assert.NotEqual(one, Train(Presets.LeNet5, options));
    }

    [Fact]
    public void TheSeedDoesChangeTheParameters()
    {
        Assert.NotEqual(Train("lenet5", 2, 64, 8, seed: 3), Train("lenet5", 2, 64, 8, seed: 4));
    }

    [Fact]
    public void EpochOrderIsAPermutationFixedBySeedAndEpoch()
    {
        int[] a = EpochOrder.For(1, 0, 1000);
        Assert.Equal(Enumerable.Range(0, 1000), a.Order());
        Assert.Equal(a, EpochOrder.For(1, 0, 1000));
        Assert.NotEqual(a, EpochOrder.For(1, 1, 1000));
        Assert.NotEqual(a, EpochOrder.For(2, 0, 1000));
    }

    /// <summary>
    /// What it shows does not depend on the instruction set once the bits do not (the golden and thread-count
    /// tests), so scripts/test.sh leaves it out of the runs on narrower ones (a minute without SIMD).
    /// </summary>
    [Fact]
    [Trait("Category", "Learning")]
    public void LeNet5LearnsFashionMnist()
    {
        // one epoch on 8,000 images: far above chance (10%); the full figure is in the README
        var options = new TrainingOptions { Epochs = 1, BatchSize = 64, LearningRate = 0.03, Threads = 2, Schedule = Engine.Optim.LearningRateSchedule.Parse("cosine", 50) };
        using var trainer = new Trainer(Network.Build(Presets.LeNet5), options, Data.Value.Train.Take(8000), Data.Value.Test.Take(2000));
        EpochReport report = trainer.Run();
        Assert.True(report.TestAccuracy > 0.72, $"test accuracy {report.TestAccuracy}");
        Assert.True(report.TrainLoss < 1.0, $"train loss {report.TrainLoss}");
    }

    private static string Train(ModelSpec spec, TrainingOptions options)
    {
        using var trainer = new Trainer(Network.Build(spec), options, Data.Value.Train.Take(600), Data.Value.Test.Take(100));
        trainer.Run();
        return ParameterHash.Of(trainer.Parameters);
    }

    /// <summary>
    /// The steps as a cluster computes them: every step's tree cut into blocks of two micro-shards, computed
    /// last first by two engines of 1 and 2 threads (workers), completed by the coordinator's reducer.
    /// </summary>
    private static string TrainInBlocks(ModelSpec spec, TrainingOptions options)
    {
        Network network = Network.Build(spec);
        LabeledImages train = Data.Value.Train.Take(600);
        var session = new TrainingSession(network, options, train, test: null);
        var buffers = GradientBuffers.Shared(network.ParameterCount);
        using ParallelGradient a = new(network, options.ShardSize, 1), b = new(network, options.ShardSize, 2);
        const int level = 1;
        while (!session.Finished)
        {
            ArraySegment<int> batch = session.BeginStep();
            var plan = new ShardPlan(batch.Count, options.ShardSize);
            var blocks = new (float[] Gradient, double Loss)[plan.BlockCount(level)];
            for (int k = blocks.Length - 1; k >= 0; k--)
            {
                blocks[k] = (k % 2 == 0 ? a : b).ComputeBlock(session.Parameters, train, batch, plan, level, k, session.Pass);
            }

            var reducer = new TreeReducer(buffers);
            for (int k = 0; k < blocks.Length; k++)
            {
                reducer.Push(k << level, level, blocks[k].Gradient, blocks[k].Loss);
            }

            (float[] gradient, double loss) = reducer.Finish();
            session.Commit(gradient, loss, batch.Count);
            buffers.Return(gradient);
        }

        return ParameterHash.Of(session.Parameters);
    }

    internal static string Train(string model, int threads, int batch, int shard, ulong seed, bool augment = false, int steps = 12) =>
        Train(Presets.Find(model)!, threads, batch, shard, seed, augment, steps);

    internal static string Train(ModelSpec spec, int threads, int batch, int shard, ulong seed, bool augment = false, int steps = 12)
    {
        var options = new TrainingOptions { Epochs = 1, MaxSteps = steps, BatchSize = batch, ShardSize = shard, Threads = threads, Seed = seed, Augment = augment };
        using var trainer = new Trainer(Network.Build(spec), options, Data.Value.Train.Take(600), Data.Value.Test.Take(100));
        trainer.Run();
        return ParameterHash.Of(trainer.Parameters);
    }
}

using CnnCluster.Engine.Data;
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

    [Fact]
    public void LeNet5LearnsFashionMnist()
    {
        // one epoch on 8,000 images: far above chance (10%); the full figure is in the README
        var options = new TrainingOptions { Epochs = 1, BatchSize = 64, LearningRate = 0.03, Threads = 2, Schedule = Engine.Optim.LearningRateSchedule.Parse("cosine", 50) };
        using var trainer = new Trainer(Network.Build(Presets.LeNet5), options, Data.Value.Train.Take(8000), Data.Value.Test.Take(2000));
        EpochReport report = trainer.Run();
        Assert.True(report.TestAccuracy > 0.72, $"test accuracy {report.TestAccuracy}");
        Assert.True(report.TrainLoss < 1.0, $"train loss {report.TrainLoss}");
    }

    internal static string Train(string model, int threads, int batch, int shard, ulong seed)
    {
        var options = new TrainingOptions { Epochs = 1, MaxSteps = 12, BatchSize = batch, ShardSize = shard, Threads = threads, Seed = seed };
        using var trainer = new Trainer(Network.Build(Presets.Find(model)!), options, Data.Value.Train.Take(600), Data.Value.Test.Take(100));
        trainer.Run();
        return ParameterHash.Of(trainer.Parameters);
    }
}

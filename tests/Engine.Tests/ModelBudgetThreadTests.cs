using CnnCluster.Engine.Models;
using CnnCluster.Engine.Tensors;
using CnnCluster.Engine.Training;
using Xunit;

namespace CnnCluster.Engine.Tests;

/// <summary>
/// A run's memory is counted before it is allocated: a micro-shard whose activations would not fit one thread,
/// and threads that together would not fit the machine, are refused in words by the gradient's constructor,
/// which then has allocated nothing of the kind.
/// </summary>
public sealed class ModelBudgetThreadTests
{
    private static readonly ModelSpec Giant = new("giant", new Shape3(1, 28, 28), 10,
        [new LayerSpec("conv2d") { Out = 20_000, Kernel = 1 }, new LayerSpec("maxpool2d") { Size = 28 }, new LayerSpec("flatten"), new LayerSpec("dense") { Out = 10 }]);

    [Fact]
    public void AShardThatWouldNotFitAThreadIsRefusedBeforeTheGradientAllocates()
    {
        Network network = Network.Build(Giant);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<ModelSpecException>(() => new ParallelGradient(network, 128, 1));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20, "the refusal allocated the activations");
        Assert.StartsWith("model 'giant' is too large for shard size 128:", e.Message);
        Assert.Contains("use --shard-size 8 or less", e.Message);
        ModelBudget.CheckShard(Giant, 8);
    }

    [Fact]
    public void ThreadsThatWouldNotFitTheMachineAreRefusedWithWhatItHas()
    {
        ModelSpec lenet = Presets.LeNet5;
        ModelBudget.CheckThreads(lenet, 8, 2, availableBytes: 1L << 30);
        var e = Assert.Throws<ModelSpecException>(() => ModelBudget.CheckThreads(lenet, 8, 64, availableBytes: 64L << 20));
        Assert.Contains("on 64 thread(s) needs about", e.Message);
        Assert.Contains("and this machine has 0.1 GiB", e.Message);
        Assert.Contains("WORKER_THREADS", e.Message);
    }
}

using CnnCluster.Engine.Data;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Optim;
using CnnCluster.Engine.Tensors;
using CnnCluster.Engine.Training;
using Xunit;
using static CnnCluster.Engine.OracleTests.Oracle;

namespace CnnCluster.Engine.OracleTests;

/// <summary>
/// Whole lenet5 training steps — our micro-shard tree on 2 threads and SGD with momentum and weight
/// decay — against libtorch's forward, autograd and optim.SGD from the same weights on the same batches;
/// with a schedule, torch's optimizer is given our session's rate before each step (as EngineBench's
/// time-to-accuracy race does).
/// </summary>
public sealed class TrainingStepOracleTests
{
    [Theory]
    [InlineData(1, "constant", 0)]
    [InlineData(3, "constant", 0)]
    [InlineData(5, "cosine", 2)]
    public void Lenet5StepsMatchLibtorch(int steps, string schedule, int warmupSteps)
    {
        const int count = 512, batch = 64;
        var rng = Rng.For(0x1E, 5);
        var pixels = new byte[count * 28 * 28];
        var labels = new byte[count];
        for (int i = 0; i < pixels.Length; i++)
        {
            pixels[i] = (byte)rng.NextInt(256);
        }

        for (int i = 0; i < count; i++)
        {
            labels[i] = (byte)rng.NextInt(10);
        }

        (float mean, float std) = LabeledImages.Statistics(pixels);
        var data = new LabeledImages(new Shape3(1, 28, 28), pixels, labels, 10, mean, std);
        var normalized = new float[count * 28 * 28];
        data.Load(Enumerable.Range(0, count).ToArray(), normalized, new int[count]);

        Network network = Network.Build(Presets.LeNet5);
        var options = new TrainingOptions
        {
            Epochs = 1, BatchSize = batch, LearningRate = 0.01, ShardSize = 8, Threads = 2, Seed = 9, Sgd = new SgdOptions(0.9, false, 5e-4),
            Schedule = LearningRateSchedule.Parse(schedule, warmupSteps),
        };
        var session = new TrainingSession(network, options, data, null);
        using var gradient = new ParallelGradient(network, options.ShardSize, options.Threads);
        using var torch = new TorchLeNet(network, (float[])session.Parameters.Clone(), normalized, labels, options.LearningRate, 0.9, 5e-4);

        for (int s = 0; s < steps; s++)
        {
            ArraySegment<int> indices = session.BeginStep();
            (float[] g, double lossSum) = gradient.Compute(session.Parameters, data, indices, session.Pass);
            StepReport ours = session.Commit(g, lossSum, indices.Count);
            float theirs = torch.Step(indices, ours.LearningRate);
            AssertClose([theirs], [(float)ours.Loss], $"step {s + 1} loss");
        }

        AssertClose(torch.Parameters(), session.Parameters, $"parameters after {steps} step(s)");
    }
}

using CnnCluster.Engine.Data;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Training;

namespace CnnCluster.Bench.Engine;

/// <summary>Our engine's training step, exactly as <see cref="Trainer"/> runs it: tree-reduced micro-shards on T threads, then SGD.</summary>
public sealed class OurLeNet
{
    private readonly TrainingSession _session;
    private readonly ParallelGradient _gradient;
    private readonly GradientBuffers _buffers;

    public OurLeNet(Network network, TrainingOptions options, LabeledImages train)
    {
        _session = new TrainingSession(network, options, train, null);
        _gradient = new ParallelGradient(network, options.ShardSize, options.Threads);
        _buffers = GradientBuffers.Shared(network.ParameterCount);
    }

    public float[] Parameters => _session.Parameters;

    /// <summary>One step on the session's own next batch (the epoch permutation of the seed); returns the mean loss.</summary>
    public double Step()
    {
        ArraySegment<int> indices = _session.BeginStep();
        (float[] gradient, double lossSum) = _gradient.Compute(_session.Parameters, _session.TrainingData, indices, _session.Pass);
        StepReport report = _session.Commit(gradient, lossSum, indices.Count);
        _buffers.Return(gradient);
        return report.Loss;
    }
}

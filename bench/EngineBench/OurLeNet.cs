using CnnCluster.Engine.Data;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Training;

namespace CnnCluster.Bench.Engine;

/// <summary>Our engine's training step, exactly as <see cref="Trainer"/> runs it: tree-reduced micro-shards on T threads, then SGD.</summary>
public sealed class OurLeNet : IDisposable
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

    /// <summary>The run's position and schedule: steps per epoch, total steps, the next step's rate.</summary>
    public TrainingSession Session => _session;

    /// <summary>One step on the session's own next batch (the epoch permutation of the seed): its loss and rate.</summary>
    public StepReport Step()
    {
        ArraySegment<int> indices = _session.BeginStep();
        (float[] gradient, double lossSum) = _gradient.Compute(_session.Parameters, _session.TrainingData, indices, _session.Pass);
        StepReport report = _session.Commit(gradient, lossSum, indices.Count);
        _buffers.Return(gradient);
        return report;
    }

    /// <summary>Test accuracy of the current parameters: the engine's <see cref="Evaluator"/> on the training thread count.</summary>
    public double Accuracy(LabeledImages test) => new Evaluator(_session.Network, _session.Options.Threads).Evaluate(_session.Parameters, test).Accuracy;

    /// <summary>Ends the gradient threads.</summary>
    public void Dispose() => _gradient.Dispose();
}

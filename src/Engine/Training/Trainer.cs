using CnnCluster.Engine.Data;
using CnnCluster.Engine.Models;

namespace CnnCluster.Engine.Training;

/// <summary>
/// The deterministic single-process training loop (DESIGN §4): a <see cref="TrainingSession"/> whose
/// gradients come from this process's threads (<see cref="ParallelGradient"/>). The parameters after
/// every step depend only on the model, the data and the options, never on
/// <see cref="TrainingOptions.Threads"/>.
/// </summary>
public sealed class Trainer : IDisposable
{
    private readonly ParallelGradient _gradient;
    private readonly GradientBuffers _buffers;

    public Trainer(Network network, TrainingOptions options, LabeledImages train, LabeledImages test)
    {
        Session = new TrainingSession(network, options, train, test, options.Threads);
        _gradient = new ParallelGradient(network, options.ShardSize, options.Threads);
        _buffers = GradientBuffers.Shared(network.ParameterCount);
    }

    public TrainingSession Session { get; }

    /// <summary>Where each step's time went (compute, optimizer, step).</summary>
    public StepPhaseLog Phases { get; private set; } = new();

    /// <summary>This process's CPU time per step of the last <see cref="Run"/>, every thread.</summary>
    public StepCpu Cpu { get; private set; } = new();

    public float[] Parameters => Session.Parameters;

    public long Step => Session.Step;

    public int StepsPerEpoch => Session.StepsPerEpoch;

    public long TotalSteps => Session.TotalSteps;

    /// <summary>Runs to the end (all epochs or MaxSteps); returns the last epoch's report.</summary>
    public EpochReport Run(ITrainingObserver? observer = null, CancellationToken cancellation = default)
    {
        EpochReport? last = null;
        Phases = new StepPhaseLog();
        Cpu = new StepCpu();
        while (!Session.Finished)
        {
            cancellation.ThrowIfCancellationRequested();
            Cpu.StepBegins();
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            ArraySegment<int> batch = Session.BeginStep();
            (float[] gradient, double lossSum) = _gradient.Compute(Session.Parameters, Session.TrainingData, batch, Session.Pass);
            long computed = Phases.AddSince(StepPhase.Compute, start);
            StepReport step = Session.Commit(gradient, lossSum, batch.Count);
            Phases.AddSince(StepPhase.Optimizer, computed);
            _buffers.Return(gradient);
            observer?.OnStep(step);
            Phases.AddSince(StepPhase.Step, start);
            if (Session.AtEpochEnd)
            {
                last = Session.EndEpoch();
                observer?.OnEpoch(last);
            }
        }

        return last ?? throw new InvalidOperationException("the run has no steps");
    }

    /// <summary>Ends the gradient threads.</summary>
    public void Dispose() => _gradient.Dispose();
}

using System.Diagnostics;
using CnnCluster.Engine.Data;
using CnnCluster.Engine.Layers;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Optim;

namespace CnnCluster.Engine.Training;

/// <summary>
/// A run's state and its step-by-step rules, apart from who computes gradients: the parameters, the
/// optimizer state, the position in the data (step → epoch, batch), the update, epoch metrics.
/// <see cref="Trainer"/> drives it with this process's threads; the cluster's run actor drives it with
/// gradients from workers. Both commit bit-identical steps.
/// </summary>
public sealed class TrainingSession
{
    private readonly LabeledImages _train;
    private readonly LabeledImages? _test;
    private readonly Evaluator? _evaluator;
    private readonly Stopwatch _clock = new();
    private readonly BatchOrder _batches;
    private double _epochLossSum;
    private long _epochImages;
    private double _restoredSeconds;

    public TrainingSession(Network network, TrainingOptions options, LabeledImages train, LabeledImages? test, int evaluationThreads = 1)
    {
        Network = network;
        Options = options;
        _train = train;
        _test = test;
        Parameters = network.InitialParameters(options.Seed);
        Optimizer = new Sgd(network, options.Sgd);
        _evaluator = test is null ? null : new Evaluator(network, evaluationThreads);
        StepsPerEpoch = options.StepsPerEpoch(train.Count);
        TotalSteps = options.TotalSteps(train.Count);
        _batches = new BatchOrder(options.Seed, train.Count, options.BatchSize);
    }

    public Network Network { get; }

    public TrainingOptions Options { get; }

    public float[] Parameters { get; }

    public Sgd Optimizer { get; }

    /// <summary>Steps committed so far; also the version of <see cref="Parameters"/>.</summary>
    public long Step { get; private set; }

    public int StepsPerEpoch { get; }

    public long TotalSteps { get; }

    public bool Finished => Step >= TotalSteps;

    public int Epoch => (int)(Step / StepsPerEpoch);

    /// <summary>Images trained on so far and the time spent in steps (not evaluation).</summary>
    public long Images { get; private set; }

    /// <summary>The images of the last step counted (the batch; an epoch's last one may be smaller).</summary>
    public int LastStepImages { get; private set; }

    public double TrainSeconds => _restoredSeconds + _clock.Elapsed.TotalSeconds;

    /// <summary>The learning rate of the next step.</summary>
    public double LearningRate => Options.Schedule.At(Options.LearningRate, Step, TotalSteps, StepsPerEpoch);

    public LabeledImages TrainingData => _train;

    /// <summary>The state a snapshot carries, as copies (the session goes on changing its own buffers).</summary>
    public SessionState Capture() => new(Step, (float[])Parameters.Clone(), (float[])Optimizer.Velocity.Clone(), Images, TrainSeconds, _epochLossSum, _epochImages);

    /// <summary>Continues from a captured state: the next step is <see cref="SessionState.Step"/> + 1.</summary>
    public void Restore(SessionState state)
    {
        if (state.Parameters.Length != Parameters.Length || state.Velocity.Length != Parameters.Length)
        {
            throw new ArgumentException($"a state of {state.Parameters.Length} parameters does not fit model '{Network.Spec.Name}' ({Parameters.Length})");
        }

        state.Parameters.CopyTo(Parameters, 0);
        state.Velocity.CopyTo(Optimizer.Velocity, 0);
        Step = state.Step;
        Images = state.Images;
        _restoredSeconds = state.TrainSeconds;
        _clock.Reset();
        _epochLossSum = state.EpochLossSum;
        _epochImages = state.EpochImages;
    }

    /// <summary>Starts from other parameters (a fork): step 0, fresh optimizer state.</summary>
    public void StartFrom(float[] parameters)
    {
        if (parameters.Length != Parameters.Length)
        {
            throw new ArgumentException($"{parameters.Length} parameters do not fit model '{Network.Spec.Name}' ({Parameters.Length})");
        }

        parameters.CopyTo(Parameters, 0);
    }

    /// <summary>What step <paramref name="step"/> (0-based, as <see cref="Step"/>) draws its augmentation and dropout from.</summary>
    public PassContext PassOf(long step) => PassContext.ForTraining(Options.Seed, step, (int)(step / StepsPerEpoch), Options.Augment);

    /// <summary>The pass of the next step (the one <see cref="BeginStep"/> gives the batch of).</summary>
    public PassContext Pass => PassOf(Step);

    /// <summary>The size of the minibatch of step <paramref name="step"/> (0-based, as <see cref="Step"/>): an epoch's last may be smaller.</summary>
    public int BatchSizeOf(long step) => _batches.SizeOf(step);

    /// <summary>The sample indices of the next step's minibatch, and starts the step clock.</summary>
    public ArraySegment<int> BeginStep()
    {
        if (Finished)
        {
            throw new InvalidOperationException($"the run is finished ({TotalSteps} steps)");
        }

        ArraySegment<int> batch = _batches.For(Step);
        _clock.Start();
        return batch;
    }

    /// <summary>
    /// Commits the step begun by <see cref="BeginStep"/> with the batch's summed gradient (modified in
    /// place) and summed loss: divide by B, add penalties, one SGD update.
    /// </summary>
    public StepReport Commit(float[] gradientSum, double lossSum, int batchSize) =>
        Commit([new SliceGradient(ParameterSlice.All(Parameters.Length), gradientSum)], lossSum, batchSize);

    /// <summary>
    /// Commits the step with the batch's summed gradient given by slices (each modified in place): the
    /// parameters and optimizer state of those slices change, no others, to the bits that one whole
    /// commit gives them (penalties read the step's starting parameters, so all are added before any
    /// slice moves). A slice owner of the sharded all-reduce commits its own slices; the rest of its
    /// replica comes from the other owners.
    /// </summary>
    public StepReport Commit(ReadOnlySpan<SliceGradient> gradientSums, double lossSum, int batchSize)
    {
        double rate = LearningRate;
        CheckLoss(lossSum, batchSize, rate);
        foreach ((ParameterSlice slice, float[] gradient) in gradientSums)
        {
            Span<float> g = gradient.AsSpan(0, slice.Count);
            System.Numerics.Tensors.TensorPrimitives.Multiply(g, 1f / batchSize, g);
            Network.Regularize(Parameters, g, slice);
        }

        foreach ((ParameterSlice slice, float[] gradient) in gradientSums)
        {
            Optimizer.Step(Parameters, gradient.AsSpan(0, slice.Count), rate, slice);
        }

        return Counted(lossSum, batchSize, rate);
    }

    /// <summary>
    /// Counts a step that the workers' replicas committed (the sharded all-reduce): the position, the epoch
    /// sums and the clock move as in <see cref="Commit(float[], double, int)"/>; the parameters and the
    /// optimizer state here stay as last <see cref="Adopt"/>ed.
    /// </summary>
    public StepReport CommittedElsewhere(double lossSum, int batchSize)
    {
        double rate = LearningRate;
        CheckLoss(lossSum, batchSize, rate);
        return Counted(lossSum, batchSize, rate);
    }

    /// <summary>Takes a replica's parameters and optimizer state after the step this session is at (copies them).</summary>
    public void Adopt(long step, ReadOnlySpan<float> parameters, ReadOnlySpan<float> velocity)
    {
        if (step != Step || parameters.Length != Parameters.Length || velocity.Length != Parameters.Length)
        {
            throw new ArgumentException($"a replica's state after step {step} ({parameters.Length} parameters) does not fit this session at step {Step} ({Parameters.Length})");
        }

        parameters.CopyTo(Parameters);
        velocity.CopyTo(Optimizer.Velocity);
    }

    private void CheckLoss(double lossSum, int batchSize, double rate)
    {
        double loss = lossSum / batchSize;
        if (!double.IsFinite(loss))
        {
            _clock.Stop();
            throw new TrainingDivergedException(Step, loss, rate);
        }
    }

    private StepReport Counted(double lossSum, int batchSize, double rate)
    {
        _clock.Stop();
        int epoch = Epoch;
        Step++;
        Images += batchSize;
        LastStepImages = batchSize;
        _epochImages += batchSize;
        _epochLossSum += lossSum;
        return new StepReport(Step, TotalSteps, epoch, lossSum / batchSize, rate, Images, TrainSeconds);
    }

    /// <summary>True right after the last step of an epoch (or of the run).</summary>
    public bool AtEpochEnd => Step > 0 && (Step % StepsPerEpoch == 0 || Finished);

    /// <summary>
    /// Test metrics of the current parameters, the epoch's mean training loss and how sparse the map
    /// combinations are; resets the epoch sums.
    /// </summary>
    public EpochReport EndEpoch()
    {
        (double testLoss, double accuracy) = _evaluator is null ? (double.NaN, double.NaN) : _evaluator.Evaluate(Parameters, _test!);
        var report = new EpochReport((int)((Step - 1) / StepsPerEpoch), Step, _epochLossSum / Math.Max(1, _epochImages), testLoss, accuracy, TrainSeconds, Images / Math.Max(1e-9, TrainSeconds), Network.SparseAlphaFraction(Parameters));
        _epochLossSum = 0;
        _epochImages = 0;
        return report;
    }
}

/// <summary>Everything a run needs to continue exactly: parameters, optimizer state, position, epoch sums.</summary>
public sealed record SessionState(long Step, float[] Parameters, float[] Velocity, long Images, double TrainSeconds, double EpochLossSum, long EpochImages);

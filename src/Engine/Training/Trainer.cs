using System.Diagnostics;
using CnnCluster.Engine.Data;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Optim;

namespace CnnCluster.Engine.Training;

/// <summary>
/// The deterministic single-process training loop (DESIGN §4): epoch order from (seed, epoch), batches
/// cut into micro-shards, the gradient summed along the reduction tree, divided by B, penalties added,
/// then one SGD update. The parameters after every step depend only on the model, the data and the
/// options, never on <see cref="TrainingOptions.Threads"/>.
/// </summary>
public sealed class Trainer
{
    private readonly LabeledImages _train;
    private readonly LabeledImages _test;
    private readonly ParallelGradient _gradient;
    private readonly Evaluator _evaluator;
    private readonly float[] _gradientBuffer;

    public Trainer(Network network, TrainingOptions options, LabeledImages train, LabeledImages test)
    {
        Network = network;
        Options = options;
        _train = train;
        _test = test;
        Parameters = network.InitialParameters(options.Seed);
        Optimizer = new Sgd(network, options.Sgd);
        _gradient = new ParallelGradient(network, options.ShardSize, options.Threads);
        _evaluator = new Evaluator(network, options.Threads);
        _gradientBuffer = new float[network.ParameterCount];
    }

    public Network Network { get; }

    public TrainingOptions Options { get; }

    public float[] Parameters { get; }

    public Sgd Optimizer { get; }

    /// <summary>Steps committed so far.</summary>
    public long Step { get; private set; }

    public int StepsPerEpoch => Options.StepsPerEpoch(_train.Count);

    public long TotalSteps => Options.TotalSteps(_train.Count);

    /// <summary>Runs to the end (all epochs or MaxSteps); returns the last epoch's report.</summary>
    public EpochReport Run(ITrainingObserver? observer = null, CancellationToken cancellation = default)
    {
        EpochReport? last = null;
        var clock = new Stopwatch();
        long images = 0;
        for (int epoch = 0; Step < TotalSteps; epoch++)
        {
            int[] order = EpochOrder.For(Options.Seed, epoch, _train.Count);
            double epochLoss = 0;
            long epochImages = 0;
            for (int b = 0; b < StepsPerEpoch && Step < TotalSteps; b++)
            {
                cancellation.ThrowIfCancellationRequested();
                int first = b * Options.BatchSize;
                var batch = new ArraySegment<int>(order, first, Math.Min(Options.BatchSize, order.Length - first));
                double rate = Options.Schedule.At(Options.LearningRate, Step, TotalSteps, StepsPerEpoch);
                clock.Start();
                double loss = TrainStep(batch, rate);
                clock.Stop();
                images += batch.Count;
                epochImages += batch.Count;
                epochLoss += loss * batch.Count;
                observer?.OnStep(new StepReport(Step, TotalSteps, epoch, loss, rate, images, clock.Elapsed.TotalSeconds));
            }

            (double testLoss, double accuracy) = _evaluator.Evaluate(Parameters, _test);
            last = new EpochReport(epoch, Step, epochLoss / epochImages, testLoss, accuracy, clock.Elapsed.TotalSeconds, images / Math.Max(1e-9, clock.Elapsed.TotalSeconds));
            observer?.OnEpoch(last);
        }

        return last ?? throw new InvalidOperationException("the run has no steps");
    }

    /// <summary>One synchronous SGD step on a batch of sample indices; returns the batch's mean loss.</summary>
    public double TrainStep(ArraySegment<int> batch, double learningRate)
    {
        double lossSum = _gradient.Compute(Parameters, _train, batch, _gradientBuffer);
        double loss = lossSum / batch.Count;
        if (!double.IsFinite(loss))
        {
            throw new TrainingDivergedException(Step, loss, learningRate);
        }

        ApplyUpdate(Network, Optimizer, Parameters, _gradientBuffer, batch.Count, learningRate);
        Step++;
        return loss;
    }

    /// <summary>
    /// The update from a summed batch gradient: divide by B, add the parameter penalties, one SGD step.
    /// The coordinator of a cluster calls the same method with the sum its workers returned.
    /// </summary>
    public static void ApplyUpdate(Network network, Sgd optimizer, float[] parameters, float[] gradientSum, int batchSize, double learningRate)
    {
        System.Numerics.Tensors.TensorPrimitives.Multiply(gradientSum, 1f / batchSize, gradientSum);
        network.Regularize(parameters, gradientSum);
        optimizer.Step(parameters, gradientSum, learningRate);
    }

    public (double Loss, double Accuracy) Evaluate(LabeledImages data) => _evaluator.Evaluate(Parameters, data);
}

namespace CnnCluster.Engine.Training;

/// <summary>After each committed step.</summary>
public readonly record struct StepReport(long Step, long TotalSteps, int Epoch, double Loss, double LearningRate, long Images, double TrainSeconds);

/// <summary>
/// After each epoch (or the last, partial one): test metrics and the epoch's mean training loss, and for
/// a model with map combinations the fraction of their α below 0.05 (<see cref="Models.Network.SparseAlphaFraction"/>;
/// null for a model without).
/// </summary>
public sealed record EpochReport(int Epoch, long Step, double TrainLoss, double TestLoss, double TestAccuracy, double TrainSeconds, double ImagesPerSecond, double? SparseAlphaFraction = null);

/// <summary>Receives progress from <see cref="Trainer"/>; called on the training thread.</summary>
public interface ITrainingObserver
{
    void OnStep(StepReport report);

    void OnEpoch(EpochReport report);
}

/// <summary>The loss became NaN or infinite: the message says at which step and what to change.</summary>
public sealed class TrainingDivergedException : Exception
{
    public TrainingDivergedException(long step, double loss, double learningRate)
        : base($"training diverged at step {step}: loss is {loss}; lower the learning rate (now {learningRate:G4}) or raise the batch size")
    {
        Step = step;
    }

    /// <summary>A divergence another node found, in its words (a run's end as its coordinator journaled it).</summary>
    public TrainingDivergedException(long step, string message)
        : base(message)
    {
        Step = step;
    }

    public long Step { get; }
}

using Akka.Actor;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Cluster;

/// <summary>The outcome of a submitted run as a client sees it.</summary>
public sealed class RunRejectedException(string message) : Exception(message);

/// <summary>A run that failed on the coordinator (e.g. it diverged).</summary>
public sealed class RunFailedException(string message) : Exception(message);

/// <summary>
/// A local actor that submits a run and turns its events into <see cref="ITrainingObserver"/> calls,
/// status lines, and a task that completes when the run ends.
/// </summary>
public sealed class RunListener : ReceiveActor
{
    public RunListener(ITrainingObserver observer, Action<string> status, TaskCompletionSource<RunFinished> completion)
    {
        Receive<RunAccepted>(a => status($"run {a.RunId} accepted by the coordinator"));
        Receive<RunRejected>(r => completion.TrySetException(new RunRejectedException(r.Reason)));
        Receive<RunWaiting>(w => status($"waiting at step {w.Step}: {w.Reason}"));
        Receive<StepCommitted>(s => observer.OnStep(new StepReport(s.Step, s.TotalSteps, s.Epoch, s.Loss, s.LearningRate, s.Images, s.TrainSeconds)));
        Receive<EpochCompleted>(e => observer.OnEpoch(new EpochReport(e.Epoch, e.Step, e.TrainLoss, e.TestLoss, e.TestAccuracy, e.TrainSeconds, e.ImagesPerSecond, e.SparseAlphaFraction)));
        Receive<RunFinished>(f => completion.TrySetResult(f));
        Receive<RunFailed>(f => completion.TrySetException(f.Failure == RunFailure.Diverged
            ? new TrainingDivergedException(f.Step, f.Reason)
            : new RunFailedException(f.Reason)));
    }

    public static Props Props(ITrainingObserver observer, Action<string> status, TaskCompletionSource<RunFinished> completion) =>
        Akka.Actor.Props.Create(() => new RunListener(observer, status, completion));
}

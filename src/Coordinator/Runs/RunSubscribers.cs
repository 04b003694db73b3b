using Akka.Actor;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Runs;

/// <summary>
/// Who hears a run's events (pbm clients, a listener of `train`): a new one first gets the history so
/// far, then live events as they are journaled. Waiting is said when it begins and then every
/// <see cref="WaitingReminder"/>, not at every tick.
/// </summary>
public sealed class RunSubscribers(string runId)
{
    private static readonly TimeSpan WaitingReminder = TimeSpan.FromSeconds(10);

    private readonly HashSet<IActorRef> _subscribers = new();
    private DateTime _lastWaitingNotice = DateTime.MinValue;

    public IReadOnlyCollection<IActorRef> All => _subscribers;

    /// <summary>Adds a subscriber; false when it was one already.</summary>
    public bool Add(IActorRef subscriber) => _subscribers.Add(subscriber);

    public void Remove(IActorRef subscriber) => _subscribers.Remove(subscriber);

    public void Publish(object message)
    {
        foreach (IActorRef s in _subscribers)
        {
            s.Tell(message);
        }
    }

    /// <summary>Tells the subscribers why the run waits, when it begins to and then at most every ten seconds; true when told.</summary>
    public bool Waiting(long step, string reason, bool began)
    {
        if (!began && DateTime.UtcNow - _lastWaitingNotice <= WaitingReminder)
        {
            return false;
        }

        _lastWaitingNotice = DateTime.UtcNow;
        Publish(new RunWaiting(runId, step, reason));
        return true;
    }

    /// <summary>What happened so far, to one new subscriber: every step and epoch, and the end if there is one.</summary>
    public void SendHistory(IActorRef subscriber, RunState state, long totalSteps, int workers, Func<RunFinished> finished)
    {
        foreach (StepRecorded s in state.Steps)
        {
            subscriber.Tell(StepMessage(s, totalSteps, workers));
        }

        foreach (EpochRecorded e in state.Epochs)
        {
            subscriber.Tell(EpochMessage(e));
        }

        if (state.Ended is { Outcome: RunOutcome.Completed })
        {
            subscriber.Tell(finished());
        }
        else if (state.Ended is { } ended)
        {
            subscriber.Tell(new RunFailed(runId, ended.Step, ended.Reason ?? ended.Status, ended.Outcome));
        }
    }

    /// <summary>Tells every subscriber what the journal just took.</summary>
    public void Recorded(IRunEvent e, long totalSteps, int workers)
    {
        switch (e)
        {
            case StepRecorded s:
                Publish(StepMessage(s, totalSteps, workers));
                break;
            case StepsRecorded group:
                foreach (StepRecorded s in group.Steps)
                {
                    Publish(StepMessage(s, totalSteps, workers));
                }

                break;
            case EpochRecorded ep:
                Publish(EpochMessage(ep));
                break;
        }
    }

    private StepCommitted StepMessage(StepRecorded s, long totalSteps, int workers) =>
        new(runId, s.Step, totalSteps, s.Epoch, s.Loss, s.LearningRate, s.Images, s.TrainSeconds, workers);

    private EpochCompleted EpochMessage(EpochRecorded e) =>
        new(runId, e.Epoch, e.Step, e.TrainLoss, e.TestLoss, e.TestAccuracy, e.TrainSeconds, e.ImagesPerSecond, e.SparseAlphaFraction);
}

using Akka.Actor;
using Akka.Event;
using Akka.Pattern;
using CnnCluster.Coordinator.Runs;
using CnnCluster.Engine.Data;
using CnnCluster.Engine.Models;
using CnnCluster.Shared.Naming;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Registry;

/// <summary>
/// The registry's run actors (used on the registry's thread only): each run under a backoff supervisor
/// (a run stopped by a database failure comes back and recovers), reached by id, started again to
/// answer from its journal when asked, and stopped when idle. Messages for a run whose actor is
/// stopping wait here and go to its next incarnation.
/// </summary>
public sealed class RunActors(IActorContext context, CoordinatorOptions options, ILoggingAdapter log)
{
    private static readonly TimeSpan MinBackoff = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);

    private readonly Dictionary<string, IActorRef> _running = new();
    private readonly Dictionary<string, (IActorRef Supervisor, List<(object Message, IActorRef Sender)> Waiting)> _stopping = new();

    /// <summary>The directory of workers the runs ask (the registry's child, made at its start).</summary>
    public IActorRef Directory { get; set; } = ActorRefs.Nobody;

    /// <summary>
    /// Starts the run's actor; false (and why, in one line) when this node cannot. A submitter is told
    /// <see cref="RunAccepted"/> before the actor exists, so that answer comes before any of the run's
    /// events (a run with no workers says it waits at once), and then hears the run as a subscriber.
    /// </summary>
    public bool TryStart(RunRegistered run, RunOrigin origin, IActorRef? submitter, out string? error)
    {
        try
        {
            var setup = new RunSetup(run.RunId, run.Config, origin, RunData.For(options.DataDirectory, run.Config.DataLimit), Directory) { PassivateAfter = options.PassivateEndedAfter };
            Props supervised = BackoffSupervisor.Props(Backoff.OnStop(TrainingRun.Props(setup, options.EvaluationThreads, submitter), "run", MinBackoff, MaxBackoff, 0.2, maxNrOfRetries: -1));
            submitter?.Tell(new RunAccepted(run.RunId));
            _running[run.RunId] = context.ActorOf(supervised, "run-" + run.RunId);
            error = null;
            return true;
        }
        catch (Exception e)
        {
            // never fatal: a run this node cannot start (its data, its spec, its name) is reported and left alone
            log.Error("run {0} cannot start: {1}", RunIds.Printable(run.RunId), e.Message);
            error = e is DatasetException or ModelSpecException ? e.Message : $"run '{RunIds.Printable(run.RunId)}' cannot start: {e.Message}";
            return false;
        }
    }

    /// <summary>Delivers to the run's actor (started again if it ended and stopped), or keeps it while it stops; false for an unknown run.</summary>
    public bool Deliver(string runId, object message, IActorRef sender, RegistryState state)
    {
        if (_stopping.TryGetValue(runId, out var stopping))
        {
            stopping.Waiting.Add((message, sender));
            return true;
        }

        if (Run(runId, state) is not { } run)
        {
            return false;
        }

        run.Tell(message, sender);
        return true;
    }

    /// <summary>The run is idle (or resumed): its actor stops; the next message starts its next incarnation.</summary>
    public void Passivate(string runId)
    {
        if (_running.Remove(runId, out IActorRef? supervisor))
        {
            context.Watch(supervisor);
            context.Stop(supervisor);
            _stopping[runId] = (supervisor, new List<(object, IActorRef)>());
        }
    }

    /// <summary>
    /// An actor stopped: when it was a passivating run, what waited for it goes to its next incarnation (a
    /// resumed run, not ended any more, starts again at once). False for any other actor.
    /// </summary>
    public bool Stopped(IActorRef supervisor, RegistryState state)
    {
        string? runId = _stopping.FirstOrDefault(p => p.Value.Supervisor.Equals(supervisor)).Key;
        if (runId is null || !_stopping.Remove(runId, out var stopping))
        {
            return false;
        }

        if ((stopping.Waiting.Count > 0 || !state.Ended(runId)) && Run(runId, state) is { } run)
        {
            foreach ((object message, IActorRef sender) in stopping.Waiting)
            {
                run.Tell(message, sender);
            }
        }

        return true;
    }

    private IActorRef? Run(string id, RegistryState state) =>
        _running.TryGetValue(id, out IActorRef? run) ? run
        : state.Runs.TryGetValue(id, out RunRegistered? known) && TryStart(known, RunOrigin.Fresh, null, out string? _) ? _running[id]
        : null;
}

using Akka.Actor;
using Akka.Event;
using Akka.Pattern;
using Akka.Persistence;
using CnnCluster.Coordinator.Cluster;
using CnnCluster.Coordinator.Persistence;
using CnnCluster.Coordinator.Runs;
using CnnCluster.Coordinator.Telemetry;
using CnnCluster.Engine.Data;
using CnnCluster.Engine.Models;
using CnnCluster.Shared.Naming;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Registry;

/// <summary>
/// The coordinator's entry point (a cluster singleton on role `coordinator`, persistent as
/// run-registry): accepts and forks runs (<see cref="RunAdmission"/>), starts a <see cref="TrainingRun"/>
/// per run under a backoff supervisor (a run stopped by a database failure comes back and recovers),
/// restarts every unfinished run when it starts, and owns the <see cref="WorkerDirectory"/> the runs
/// learn their workers from. Its journaled state is a <see cref="RegistryState"/>, changed only once the
/// journal has the event; a journaled run that cannot start is reported and skipped. An ended run's actor
/// passivates when idle (<see cref="RunIdle"/>); queries that arrive while it stops are kept and
/// delivered to its next incarnation. The registry itself runs under a backoff supervisor
/// (<see cref="CoordinatorHosting"/>): a journal failure stops it, and it comes back and recovers.
/// </summary>
public sealed class RunRegistry : ReceivePersistentActor, IWithTimers
{
    /// <summary>How long after a burst of passivations the memory they freed is given back to the system.</summary>
    private static readonly TimeSpan CompactAfter = TimeSpan.FromSeconds(2);

    private readonly CoordinatorOptions _options;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<string, RunStatus> _paused = new(); // a run down between its supervisor's attempts answers through this
    private readonly RunActors _runs;
    private RegistryState _state = RegistryState.Empty;

    public RunRegistry(CoordinatorOptions options)
    {
        _options = options;
        _runs = new RunActors(Context, options, _log);
        Recover<IRegistryEvent>(e =>
        {
            if (e is RunRegistered r && RunIds.Problem(r.RunId) is string problem)
            {
                _log.Error("the journal holds a run this registry cannot name, skipped: {0}", problem);
                return;
            }

            _state = _state.Updated(e);
        });
        Recover<RecoveryCompleted>(_ =>
        {
            foreach (RunRegistered run in _options.ResumeUnfinished ? _state.Unfinished : [])
            {
                _log.Info("run {0} is unfinished: resuming it", run.RunId);
                _runs.TryStart(run, RunOrigin.Fresh, submitter: null, out string? _);
            }

            PublishRuns();
        });

        Command<SubmitRun>(Submit);
        Command<ForkRun>(Fork);
        Command<ResumeRun>(Resume);
        Command<Forkable>(OnForkable);
        Command<RunStatusRequest>(r =>
        {
            if (r.RunId is not null && _paused.TryGetValue(r.RunId, out RunStatus? paused))
            {
                Sender.Tell(paused);
            }
            else
            {
                ToRun(r.RunId, r);
            }
        });
        Command<SubscribeRun>(s => ToRun(s.RunId, s));
        Command<ExportRun>(e => ToRun(e.RunId, e));
        Command<StopRun>(r => ToRun(r.RunId, r));
        Command<ListSnapshots>(r => ToRun(r.RunId, r));
        Command<RunHistoryRequest>(r => ToRun(r.RunId, r));
        Command<ListWorkers>(w => _runs.Directory.Forward(w));
        Command<ListRuns>(_ => Sender.Tell(new RunList(_state.Runs.Values.Select(r => _state.Entry(r, _paused.ContainsKey(r.RunId))).ToArray())));
        Command<DescribeRun>(d => Sender.Tell(_state.Runs.TryGetValue(d.RunId, out RunRegistered? run)
            ? run
            : new RunRejected(d.RunId, $"no run '{d.RunId}' in this database; known runs: {_state.KnownRuns}")));
        Command<CompactMemory>(_ =>
        {
            // the runs that passivated are garbage now: a long-lived coordinator gives their memory back
            // (an idle process would otherwise keep it until its next allocation-driven collection)
            GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        });
        Command<Terminated>(t =>
        {
            if (_runs.Stopped(t.ActorRef, _state) && !Timers.IsTimerActive("compact"))
            {
                Timers.StartSingleTimer("compact", CompactMemory.Instance, CompactAfter);
            }
        });
        RunNotices();
    }

    public override string PersistenceId => "run-registry";

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(CoordinatorOptions options) => Akka.Actor.Props.Create(() => new RunRegistry(options));

    protected override void PreStart()
    {
        _runs.Directory = Context.ActorOf(WorkerDirectory.Props(), "workers");
        Task.Run(Shared.DataPlane.DataFrames.WarmUp); // every message's formatter made before a run's first step needs it
        Context.ActorOf(PersistenceWarmUp.Props(), "persistence-warm-up"); // and the store's first save and delete
        base.PreStart();
    }

    /// <summary>What this registry's own runs tell it; from any other sender (a member of the cluster, over remoting) it is ignored.</summary>
    private void RunNotices()
    {
        Command<RunPaused>(p =>
        {
            if (IsOwnRun(Sender))
            {
                _paused[p.RunId] = p.Status;
                PublishRuns();
            }
        });
        Command<RunStoreWorks>(w =>
        {
            if (IsOwnRun(Sender) && _paused.Remove(w.RunId))
            {
                _log.Info("run {0} resumed: its store works again", w.RunId);
                PublishRuns();
            }
        });
        Command<RunEndedNotice>(n =>
        {
            // a run that answers from its journal says so again at every start: journaled once
            if (IsOwnRun(Sender) && _state.Knows(n.RunId) && !_state.Ended(n.RunId))
            {
                Persist(new RunClosed(n.RunId, n.Outcome.ToWire(), n.Step, n.TestAccuracy), Apply);
            }
        });
        Command<RunIdle>(idle =>
        {
            if (IsOwnRun(Sender))
            {
                _runs.Passivate(idle.RunId);
            }
        });
    }

    private void Apply(IRegistryEvent e)
    {
        _state = _state.Updated(e);
        PublishRuns();
    }

    private void Submit(SubmitRun submit)
    {
        if (RunAdmission.Refusal(submit.RunId, submit.Config, _state, _options.DataDirectory, out string id) is string reason)
        {
            Sender.Tell(new RunRejected(id, reason));
            return;
        }

        Register(new RunRegistered(id, submit.Config, null, 0, DateTime.UtcNow), RunOrigin.Fresh, Sender);
    }

    /// <summary>
    /// A stopped or failed run continues from its last snapshot: the registry journals that it is open again
    /// (so a restarted registry resumes it), and the run journals the same and starts again as unfinished.
    /// </summary>
    private void Resume(ResumeRun resume)
    {
        string? id = resume.RunId;
        if ((id is null ? RunIds.Problem(id) : RunIds.Problem(id) ?? _state.ResumeRefusal(id, _paused.ContainsKey(id))) is string refusal)
        {
            Sender.Tell(new RunRejected(RunIds.Printable(id), refusal));
            return;
        }

        IActorRef replyTo = Sender;
        Persist(new RunResumed(id!, _state.Ends[id!].Status), e =>
        {
            Apply(e);
            _log.Info("run {0} resumed (it was {1})", e.RunId, e.PreviousStatus);
            ToRun(e.RunId, resume, replyTo);
        });
    }

    private void Fork(ForkRun fork)
    {
        if (!_state.Knows(fork.SourceRunId))
        {
            Sender.Tell(new RunRejected(fork.RunId, $"no run '{fork.SourceRunId}' to fork; known runs: {_state.KnownRuns}"));
            return;
        }

        if (RunAdmission.Refusal(fork.RunId, fork.Config, _state, _options.DataDirectory, out string id) is string reason)
        {
            Sender.Tell(new RunRejected(id, reason));
            return;
        }

        IActorRef replyTo = Sender;
        RunAdmission.LoadForkSource(Context.System, fork)
            .ContinueWith(t => new Forkable(fork with { RunId = id }, t.IsCompletedSuccessfully ? t.Result : t.Exception?.GetBaseException(), replyTo))
            .PipeTo(Self);
    }

    private void OnForkable(Forkable f)
    {
        if (RunAdmission.ForkSource(f.Fork, f.Loaded, _state, out string? problem) is not { } snapshot)
        {
            f.ReplyTo.Tell(new RunRejected(f.Fork.RunId, problem!));
            return;
        }

        var origin = new RunOrigin(f.Fork.SourceRunId, f.Fork.SnapshotSequenceNr, snapshot.Parameters);
        Register(new RunRegistered(f.Fork.RunId!, f.Fork.Config, f.Fork.SourceRunId, f.Fork.SnapshotSequenceNr, DateTime.UtcNow), origin, f.ReplyTo);
    }

    private void Register(RunRegistered run, RunOrigin origin, IActorRef submitter)
    {
        Persist(run, r =>
        {
            Apply(r);
            if (_runs.TryStart(r, origin, submitter, out string? error))
            {
                _log.Info("run {0} accepted: {1}, batch {2}, {3} epochs{4}", r.RunId, r.Config.Model, r.Config.BatchSize, r.Config.Epochs, r.ForkedFrom is null ? string.Empty : $", forked from {r.ForkedFrom} snapshot {r.ForkedFromSnapshot}");
            }
            else
            {
                submitter.Tell(new RunRejected(r.RunId, error!));
            }
        });
    }

    /// <summary>True when <paramref name="sender"/> is one of this registry's run actors (or below one).</summary>
    private bool IsOwnRun(IActorRef sender) => sender.Path.Address.Equals(Self.Path.Address) && sender.Path.ToStringWithoutAddress().StartsWith(Self.Path.ToStringWithoutAddress() + "/", StringComparison.Ordinal);

    private void ToRun(string? runId, object message) => ToRun(runId, message, Sender);

    private void ToRun(string? runId, object message, IActorRef sender)
    {
        // a message may come from any member of the cluster, not only through pbm: a bad id is an answer, never a crash
        if (runId is null || RunIds.Problem(runId) is string)
        {
            sender.Tell(new RunRejected(RunIds.Printable(runId), RunIds.Problem(runId)!));
        }
        else if (!_runs.Deliver(runId, message, sender, _state))
        {
            sender.Tell(new RunRejected(runId, $"no run '{runId}'; known runs: {_state.KnownRuns}"));
        }
    }

    private void PublishRuns() => ClusterMeters.Runs(_state.CountByPhase(_paused.ContainsKey));

    private sealed class CompactMemory
    {
        public static readonly CompactMemory Instance = new();
    }

    private sealed record Forkable(ForkRun Fork, object? Loaded, IActorRef ReplyTo);
}

using System.Text.RegularExpressions;
using Akka.Actor;
using Akka.Event;
using Akka.Pattern;
using Akka.Persistence;
using CnnCluster.Coordinator.Persistence;
using CnnCluster.Engine.Data;
using CnnCluster.Engine.Models;
using CnnCluster.Shared.Naming;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Cluster;

/// <summary>
/// Where the coordinator finds its data, how many threads evaluate, and whether it resumes every
/// unfinished run when it starts (a `serve` node does; the one-run `train` command does not, so an
/// earlier interrupted run does not compete with the new one for workers).
/// </summary>
public sealed record CoordinatorOptions(string? DataDirectory, int EvaluationThreads, bool ResumeUnfinished = true)
{
    /// <summary>How long an ended run's actor stays after its last query (it answers from its journal when asked again).</summary>
    public TimeSpan PassivateEndedAfter { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// The coordinator's entry point (a cluster singleton on role `coordinator`, persistent as
/// run-registry): accepts and forks runs, starts a <see cref="TrainingRun"/> per run under a backoff
/// supervisor (a run stopped by a database failure comes back and recovers), restarts every unfinished
/// run when it starts, and owns the <see cref="WorkerDirectory"/> the runs learn their workers from.
/// The submitter of a run receives its events. A run id is checked (<see cref="RunIds"/>) before it
/// is journaled, and a journaled run that cannot start is reported and skipped: one bad entry never
/// stops the registry. An ended run's actor passivates when idle (<see cref="RunIdle"/>); queries that
/// arrive while it stops are kept and delivered to its next incarnation. The registry itself runs under
/// a backoff supervisor (<see cref="CoordinatorHosting"/>): a journal failure stops it, and it comes back
/// and recovers.
/// </summary>
public sealed partial class RunRegistry : ReceivePersistentActor, IWithTimers
{
    /// <summary>How long after a burst of passivations the memory they freed is given back to the system.</summary>
    private static readonly TimeSpan CompactAfter = TimeSpan.FromSeconds(2);

    private static readonly TimeSpan MinBackoff = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);

    private readonly CoordinatorOptions _options;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<string, RunRegistered> _known = new();
    private readonly HashSet<string> _closed = new();
    private readonly Dictionary<string, string> _statuses = new();
    private readonly Dictionary<string, RunClosed> _ends = new();
    private readonly Dictionary<string, IActorRef> _running = new();
    private readonly Dictionary<string, RunStatus> _paused = new();
    private readonly Dictionary<string, (IActorRef Supervisor, List<(object Message, IActorRef Sender)> Waiting)> _passivating = new();
    private IActorRef _directory = ActorRefs.Nobody;

    public RunRegistry(CoordinatorOptions options)
    {
        _options = options;
        Recover<RunRegistered>(r =>
        {
            if (RunIds.Problem(r.RunId) is string problem)
            {
                _log.Error("the journal holds a run this registry cannot name, skipped: {0}", problem);
                return;
            }

            _known[r.RunId] = r;
        });
        Recover<RunClosed>(c =>
        {
            _closed.Add(c.RunId);
            _statuses[c.RunId] = c.Status;
            _ends[c.RunId] = c;
        });
        Recover<RunResumed>(Reopened);
        Recover<RecoveryCompleted>(_ =>
        {
            foreach (RunRegistered run in _known.Values.Where(r => _options.ResumeUnfinished && !_closed.Contains(r.RunId)))
            {
                _log.Info("run {0} is unfinished: resuming it", run.RunId);
                TryStart(run, RunOrigin.Fresh, subscriber: null, out string? _);
            }

            PublishRuns();
        });

        Command<SubmitRun>(Submit);
        Command<ForkRun>(Fork);
        Command<ResumeRun>(Resume);
        Command<Forkable>(OnForkable);
        Command<SubscribeRun>(s => ToRun(s.RunId, s));
        Command<ExportRun>(e => ToRun(e.RunId, e));
        Command<RunStatusRequest>(r =>
        {
            // a run paused by its store is down between its supervisor's attempts: the registry answers for it
            if (r.RunId is not null && _paused.TryGetValue(r.RunId, out RunStatus? paused))
            {
                Sender.Tell(paused);
            }
            else
            {
                ToRun(r.RunId, r);
            }
        });
        // from this registry's own runs only: any other sender (a member of the cluster, over remoting) is ignored
        Command<RunPaused>(p =>
        {
            if (IsOwnRun(Sender) && p.RunId is not null)
            {
                _paused[p.RunId] = p.Status;
                PublishRuns();
            }
        });
        Command<RunStoreWorks>(w =>
        {
            if (IsOwnRun(Sender) && w.RunId is not null && _paused.Remove(w.RunId))
            {
                _log.Info("run {0} resumed: its store works again", w.RunId);
                PublishRuns();
            }
        });
        Command<StopRun>(r => ToRun(r.RunId, r));
        Command<ListSnapshots>(r => ToRun(r.RunId, r));
        Command<RunHistoryRequest>(r => ToRun(r.RunId, r));
        Command<ListWorkers>(w => _directory.Forward(w));
        Command<ListRuns>(_ => Sender.Tell(new RunList(_known.Values
            .OrderBy(r => r.RunId, StringComparer.Ordinal)
            .Select(r => new RunListEntry(r.RunId, r.Config.Model, StateOf(r.RunId), r.ForkedFrom,
                _ends.GetValueOrDefault(r.RunId)?.Step, _ends.GetValueOrDefault(r.RunId)?.TestAccuracy, r.Submitted))
            .ToArray())));
        Command<DescribeRun>(d =>
        {
            if (_known.TryGetValue(d.RunId, out RunRegistered? run))
            {
                Sender.Tell(run);
            }
            else
            {
                Sender.Tell(new RunRejected(d.RunId, $"no run '{d.RunId}' in this database; known runs: {Known()}"));
            }
        });
        Command<RunIdle>(OnRunIdle);
        Command<CompactMemory>(_ =>
        {
            // the runs that passivated are garbage now: a long-lived coordinator gives their memory back
            // (an idle process would otherwise keep it until its next allocation-driven collection)
            GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        });
        Command<Terminated>(OnTerminated);
        Command<RunEndedNotice>(n =>
        {
            _statuses[n.RunId] = n.Status;
            _ends[n.RunId] = new RunClosed(n.RunId, n.Status, n.Step, n.TestAccuracy);
            if (_closed.Add(n.RunId))
            {
                Persist(_ends[n.RunId], _ => { });
            }

            PublishRuns();
        });
    }

    public override string PersistenceId => "run-registry";

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(CoordinatorOptions options) => Akka.Actor.Props.Create(() => new RunRegistry(options));

    protected override void PreStart()
    {
        _directory = Context.ActorOf(WorkerDirectory.Props(), "workers");
        base.PreStart();
    }

    private void Submit(SubmitRun submit)
    {
        if (Refusal(submit.RunId, submit.Config, out string id) is string reason)
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
        string? refusal = id is null || RunIds.Problem(id) is string ? RunIds.Problem(id)
            : !_known.ContainsKey(id) ? $"no run '{id}'; known runs: {Known()}"
            : !_closed.Contains(id) ? $"run '{id}' has not ended ({(_paused.ContainsKey(id) ? "paused: it resumes by itself when its store works" : "running")}): nothing to resume"
            : _statuses.GetValueOrDefault(id) == "completed" ? $"run '{id}' completed: nothing to resume (to train on from it, start a new run with --fork {id}:SEQ)"
            : null;
        if (refusal is not null)
        {
            Sender.Tell(new RunRejected(RunIds.Printable(id), refusal));
            return;
        }

        IActorRef replyTo = Sender;
        Persist(new RunResumed(id!, _statuses.GetValueOrDefault(id!, "ended")), e =>
        {
            Reopened(e);
            PublishRuns();
            _log.Info("run {0} resumed (it was {1})", e.RunId, e.PreviousStatus);
            ToRun(e.RunId, resume, replyTo);
        });
    }

    private void Reopened(RunResumed e)
    {
        _closed.Remove(e.RunId);
        _statuses.Remove(e.RunId);
        _ends.Remove(e.RunId);
    }

    private void Fork(ForkRun fork)
    {
        if (!_known.TryGetValue(fork.SourceRunId, out RunRegistered? source))
        {
            Sender.Tell(new RunRejected(fork.RunId, $"no run '{fork.SourceRunId}' to fork; known runs: {Known()}"));
            return;
        }

        if (Refusal(fork.RunId, fork.Config, out string id) is string reason)
        {
            Sender.Tell(new RunRejected(id, reason));
            return;
        }

        // load the chosen snapshot of the source run straight from the snapshot store
        IActorRef store = Akka.Persistence.Persistence.Instance.Apply(Context.System).SnapshotStoreFor(null);
        string persistenceId = "run-" + source.RunId;
        var criteria = new SnapshotSelectionCriteria(fork.SnapshotSequenceNr, DateTime.MaxValue, fork.SnapshotSequenceNr, DateTime.MinValue);
        IActorRef replyTo = Sender;
        store.Ask<object>(new LoadSnapshot(persistenceId, criteria, fork.SnapshotSequenceNr), TimeSpan.FromSeconds(60))
            .ContinueWith(t => new Forkable(fork with { RunId = id }, t.IsCompletedSuccessfully ? t.Result : t.Exception?.GetBaseException(), replyTo))
            .PipeTo(Self);
    }

    private void OnForkable(Forkable f)
    {
        // the store answers with the newest snapshot at or below the number: take it only if it is that one
        SelectedSnapshot? selected = (f.Loaded as LoadSnapshotResult)?.Snapshot;
        RunSnapshot? snapshot = selected?.Metadata.SequenceNr == f.Fork.SnapshotSequenceNr ? selected.Snapshot as RunSnapshot : null;
        int parameters = Network.Build(ModelSpecJson.Parse(f.Fork.Config.ModelJson)).ParameterCount;
        string? problem = f.Loaded switch
        {
            Exception e => $"cannot load snapshot {f.Fork.SnapshotSequenceNr} of run '{f.Fork.SourceRunId}': {e.Message}",
            LoadSnapshotFailed failed => $"cannot load snapshot {f.Fork.SnapshotSequenceNr} of run '{f.Fork.SourceRunId}': {failed.Cause.Message}",
            _ when snapshot is null => $"run '{f.Fork.SourceRunId}' has no snapshot {f.Fork.SnapshotSequenceNr} (it keeps its newest {_known[f.Fork.SourceRunId].Config.KeepSnapshots})",
            _ => SnapshotChecksum.Problem(f.Fork.SourceRunId, snapshot!, parameters) is string p ? $"snapshot {f.Fork.SnapshotSequenceNr} of run '{f.Fork.SourceRunId}' cannot start this model: {p}" : null,
        };
        if (problem is not null || _known.ContainsKey(f.Fork.RunId!))
        {
            f.ReplyTo.Tell(new RunRejected(f.Fork.RunId, problem ?? $"a run named '{f.Fork.RunId}' exists already"));
            return;
        }

        var origin = new RunOrigin(f.Fork.SourceRunId, f.Fork.SnapshotSequenceNr, snapshot!.Parameters);
        Register(new RunRegistered(f.Fork.RunId!, f.Fork.Config, f.Fork.SourceRunId, f.Fork.SnapshotSequenceNr, DateTime.UtcNow), origin, f.ReplyTo);
    }

    private void Register(RunRegistered run, RunOrigin origin, IActorRef submitter)
    {
        Persist(run, r =>
        {
            _known[r.RunId] = r;
            PublishRuns();
            if (TryStart(r, origin, submitter, out string? error))
            {
                _log.Info("run {0} accepted: {1}, batch {2}, {3} epochs{4}", r.RunId, r.Config.Model, r.Config.BatchSize, r.Config.Epochs, r.ForkedFrom is null ? string.Empty : $", forked from {r.ForkedFrom} snapshot {r.ForkedFromSnapshot}");
                submitter.Tell(new RunAccepted(r.RunId));
            }
            else
            {
                submitter.Tell(new RunRejected(r.RunId, error!));
            }
        });
    }

    /// <summary>Why a new run cannot be accepted, or null (and its id).</summary>
    private string? Refusal(string? requested, RunConfig? config, out string id)
    {
        if (config is null)
        {
            id = RunIds.Printable(requested);
            return "the run has no configuration";
        }

        if (RunConfigRules.Problem(config) is string outside)
        {
            id = RunIds.Printable(requested);
            return outside;
        }

        id = requested ?? RunIds.Default(config.Model);
        if (RunIds.Problem(id) is string invalid)
        {
            id = RunIds.Printable(id);
            return invalid;
        }

        if (_known.ContainsKey(id))
        {
            return $"a run named '{id}' exists already (resume it, or pick another name)";
        }

        if (config.Verify > 0 && config.Reduction == Reduction.Sharded)
        {
            return $"--verify {config.Verify} is not possible with the sharded reduction: its results never reach the coordinator (use --reduce star)";
        }

        try
        {
            Network.Build(ModelSpecJson.Parse(config.ModelJson));
            config.ToTrainingOptions(1);
            RunData.For(_options.DataDirectory, config.DataLimit);
            return null;
        }
        catch (Exception e) when (e is ModelSpecException or DatasetException or FormatException or ArgumentException)
        {
            return e.Message;
        }
    }

    private bool TryStart(RunRegistered run, RunOrigin origin, IActorRef? subscriber, out string? error)
    {
        try
        {
            RunData data = RunData.For(_options.DataDirectory, run.Config.DataLimit);
            Props props = TrainingRun.Props(run.RunId, run.Config, origin, data, _directory, _options.EvaluationThreads, subscriber, passivateAfter: _options.PassivateEndedAfter);

            // a run stopped by a failing journal (e.g. the database went away) is started again and recovers
            Props supervised = BackoffSupervisor.Props(Backoff.OnStop(props, "run", MinBackoff, MaxBackoff, 0.2, maxNrOfRetries: -1));
            _running[run.RunId] = Context.ActorOf(supervised, "run-" + run.RunId);
            error = null;
            return true;
        }
        catch (Exception e)
        {
            // never fatal: a run this node cannot start (its data, its spec, its name) is reported and left alone
            _log.Error("run {0} cannot start: {1}", RunIds.Printable(run.RunId), e.Message);
            error = e is DatasetException or ModelSpecException ? e.Message : $"run '{RunIds.Printable(run.RunId)}' cannot start: {e.Message}";
            return false;
        }
    }

    private void OnRunIdle(RunIdle idle)
    {
        if (_running.Remove(idle.RunId, out IActorRef? supervisor))
        {
            Context.Watch(supervisor);
            Context.Stop(supervisor);
            _passivating[idle.RunId] = (supervisor, new List<(object, IActorRef)>());
        }
    }

    private void OnTerminated(Terminated t)
    {
        string? runId = _passivating.FirstOrDefault(p => p.Value.Supervisor.Equals(t.ActorRef)).Key;
        if (runId is null || !_passivating.Remove(runId, out var passivating))
        {
            return;
        }

        if (!Timers.IsTimerActive("compact"))
        {
            Timers.StartSingleTimer("compact", CompactMemory.Instance, CompactAfter);
        }

        // queries that came while it stopped go to a new incarnation, which answers from the journal; a run
        // that stopped because it was resumed (not closed any more) starts again at once
        if ((passivating.Waiting.Count > 0 || !_closed.Contains(runId)) && Run(runId) is { } run)
        {
            foreach ((object message, IActorRef sender) in passivating.Waiting)
            {
                run.Tell(message, sender);
            }
        }
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
        else if (_passivating.TryGetValue(runId, out var passivating))
        {
            passivating.Waiting.Add((message, sender));
        }
        else if (Run(runId) is { } run)
        {
            run.Tell(message, sender);
        }
        else
        {
            sender.Tell(new RunRejected(runId, $"no run '{runId}'; known runs: {Known()}"));
        }
    }

    /// <summary>The run's actor; a known run that ended is started again to answer from its journal.</summary>
    private IActorRef? Run(string id)
    {
        if (_running.TryGetValue(id, out IActorRef? run))
        {
            return run;
        }

        return _known.TryGetValue(id, out RunRegistered? known) && TryStart(known, RunOrigin.Fresh, null, out string? _) ? _running[id] : null;
    }

    /// <summary>A run's state as the registry knows it: paused by its store, how it ended, or running.</summary>
    private string StateOf(string id) => _paused.ContainsKey(id) ? "paused" : _statuses.GetValueOrDefault(id, _closed.Contains(id) ? "ended" : "running");

    /// <summary>The runs by state for the metrics (the common states always, 0 included, so a gauge falls to 0 rather than vanishing).</summary>
    private void PublishRuns()
    {
        var byState = new Dictionary<string, int> { ["running"] = 0, ["paused"] = 0, ["completed"] = 0, ["stopped"] = 0, ["failed"] = 0 };
        foreach (string id in _known.Keys)
        {
            string state = StateOf(id);
            byState[state] = byState.GetValueOrDefault(state) + 1;
        }

        Telemetry.ClusterMeters.Runs(byState);
    }

    private string Known() => _known.Count == 0 ? "none" : string.Join(", ", _known.Keys.Order());

    /// <summary>Run → registry: an ended run has been idle (stop its actor until it is asked again), or was resumed (stop it and start its next incarnation).</summary>
    public sealed record RunIdle(string RunId);

    private sealed class CompactMemory
    {
        public static readonly CompactMemory Instance = new();
    }

    private sealed record Forkable(ForkRun Fork, object? Loaded, IActorRef ReplyTo);
}

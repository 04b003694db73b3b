using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using CnnCluster.Coordinator.Cluster;
using CnnCluster.Coordinator.Persistence;
using CnnCluster.Coordinator.Telemetry;
using CnnCluster.Coordinator.Runs.Steps;
using CnnCluster.Coordinator.Runs.Workers;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.DataPlane;
using CnnCluster.Shared.Protocol;
using CnnCluster.Shared.Transport;

namespace CnnCluster.Coordinator.Runs;

/// <summary>
/// One training run on the coordinator (DESIGN §4–§5), a persistent actor (run-&lt;id&gt;): the shell that
/// wires to messages the <see cref="TrainingSession"/> (parameters, optimizer, data order, the update),
/// the step execution (<see cref="IStepExecution{TWorker}"/>: star or sharded, chosen once) and the
/// <see cref="RunState"/> (its journaled history, one transition function for recovery and live events).
/// It recovers, behaves (starting, running, ended), routes, and does what follows every committed step
/// once: the next step first, then the hash (checked against the journal for a recomputed step), the
/// journal (<see cref="RunJournal"/>), the epoch's metrics, the snapshot (<see cref="RunSnapshots"/>), the end.
/// After a crash it continues from its last good snapshot and recomputes the steps after it, checking
/// each against its journal: the result is bit-identical to a run that never stopped. A snapshot that
/// fails its checksum (or cannot be read) is rejected (journaled) and the one before it is used.
/// </summary>
public sealed partial class TrainingRun : ReceivePersistentActor, IWithTimers
{
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(200);

    private readonly RunSetup _run;
    private readonly TrainingSession _session;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly StepContext<IActorRef> _steps;
    private readonly RunJournal _journal;
    private readonly RunSnapshots _snapshots;
    private readonly RunSubscribers _subscribers;
    private readonly ChunkAssembler _chunks;
    private IStepExecution<IActorRef>? _execution; // made once recovered and restored
    private RunState _state = RunState.Empty;
    private RunPhase _live = RunPhase.Running; // running or waiting; from its end on, the end's phase (while the journal takes it)
    private bool _storeWorks;

    public TrainingRun(RunSetup run, int evaluationThreads, IActorRef? subscriber, SchedulerSettings? scheduling = null)
    {
        _run = run;
        Network network = Network.Build(ModelSpecJson.Parse(run.Config.ModelJson));
        _session = new TrainingSession(network, run.Config.ToTrainingOptions(evaluationThreads), run.Data.Train, run.Data.Test, evaluationThreads);
        _chunks = new ChunkAssembler(Context.System, 4L * network.ParameterCount + Chunking.ChunkSize); // a result: the gradient and a few fields
        _steps = ActorStepContext.For(Context, run, _session, _log, scheduling ?? SchedulerSettings.Default, e => _journal!.Event(e));
        _journal = new RunJournal((e, then) => PersistAsync(e, then), Recorded, _steps.Telemetry.Phases);
        _snapshots = new RunSnapshots(run.RunId, run.Config, _session, _journal, _steps.Telemetry.Phases, () => ParametersCurrent, SaveSnapshot,
            upTo => DeleteSnapshots(new SnapshotSelectionCriteria(upTo)));
        _subscribers = new RunSubscribers(run.RunId);
        if (subscriber is not null)
        {
            Subscribe(subscriber, history: false); // the history follows recovery
        }

        Recover<IRunEvent>(e => _state = _state.Updated(e));
        Recover<RecoveryCompleted>(_ => Restoring(_state.Snapshots.Keys.Reverse().ToList()));
        Running();
    }

    public override string PersistenceId => "run-" + _run.RunId;

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(RunSetup run, int evaluationThreads, IActorRef? subscriber, SchedulerSettings? scheduling = null) =>
        Akka.Actor.Props.Create(() => new TrainingRun(run, evaluationThreads, subscriber, scheduling));

    /// <summary>
    /// Recovery replays the whole (small) journal, so a run knows its full history; the snapshot to
    /// continue from is then loaded explicitly (<see cref="Restoring"/>).
    /// </summary>
    public override Recovery Recovery => new(SnapshotSelectionCriteria.None);

    private string RunId => _run.RunId;

    private IStepExecution<IActorRef> Execution => _execution!;

    /// <summary>Where the run is: derived from its history and what it does now, never set on its own.</summary>
    private RunPhase Phase => _execution is null ? RunPhase.Starting : _state.PhaseWhile(_live);

    protected override void PostStop()
    {
        _steps.Workers.Dispose();
        base.PostStop();
    }

    // ---------------------------------------------------------------- behaviours

    private void Running()
    {
        Command<WorkerSet>(set =>
        {
            foreach ((IActorRef w, WorkerCapacity c) in set.Workers)
            {
                Apply(Execution.Joined(w, c));
            }

            Advance();
        });
        Command<WorkerJoined>(j =>
        {
            Apply(Execution.Joined(j.Worker, j.Capacity));
            Advance();
        });
        Command<WorkerLost>(l => Apply(Execution.Lost(l.Worker, l.Reason)));
        Command<LinkClosed>(c =>
        {
            if (_steps.Workers.Channel(c.Worker) is WorkerChannel channel && channel.Owns(c))
            {
                Apply(Execution.LinkFailed(c.Worker, c.Reason));
            }
        });
        Command<Chunk>(c =>
        {
            if (_chunks.Add(c, Sender) is { } whole)
            {
                Self.Forward(whole);
            }
        });
        Command<IStepMessage>(m => Apply(Execution.Handle(Sender, m)));
        Command<TickMessage>(_ => OnTick());
        Command<StopRun>(_ => Stop());
        Command<ResumeRun>(_ => Sender.Tell(new RunAccepted(RunId))); // running already
        Queries();
    }

    /// <summary>
    /// An ended run answers queries; late results and worker news go nowhere. Idle for a while (no query,
    /// its journal and snapshot written), it asks the registry to passivate it.
    /// </summary>
    private void Ended()
    {
        if (_run.PassivateAfter is TimeSpan idle)
        {
            SetReceiveTimeout(idle);
        }

        Command<ReceiveTimeout>(_ =>
        {
            if (_journal.Idle && !_snapshots.Saving)
            {
                SetReceiveTimeout(null);
                Context.Parent.Tell(new RunIdle(RunId));
            }
        });
        Command<IStepMessage>(m => _execution?.Handle(Sender, m)); // its buffers go back; nothing counts
        Command<TickMessage>(_ => _journal.Flush());
        Command<StopRun>(_ => Sender.Tell(Status()));
        Command<ResumeRun>(_ => Resume());
        Queries();
        CommandAny(_ => { });
    }

    private void Queries()
    {
        Command<SubscribeRun>(_ => Subscribe(Sender, history: true));
        Command<Terminated>(t =>
        {
            _subscribers.Remove(t.ActorRef); // a statement: a false from a bool lambda would leave it unhandled (a death pact)
        });
        Command<ExportRun>(_ =>
        {
            var export = new ModelExport(RunId, _run.Config.ModelJson, Execution.ParametersStep, (float[])_session.Parameters.Clone(), ParameterHash.Of(_session.Parameters));
            Chunking.Tell(Context.System, Sender, export, Self);
        });
        Command<RunStatusRequest>(_ => Sender.Tell(Status()));
        Command<ListSnapshots>(_ => Sender.Tell(new SnapshotList(RunId, _state.Snapshots.Values.ToArray())));
        Command<RunHistoryRequest>(_ => Chunking.Tell(Context.System, Sender, new RunHistory(
            RunId, _run.Config, Phase.ToWire(), _session.TotalSteps, _session.StepsPerEpoch,
            [.. _state.Steps], [.. _state.Epochs], [.. _state.Snapshots.Values], _state.Ended, _state.ForkedFrom), Self));
        Command<SaveSnapshotSuccess>(s => _snapshots.Saved(s.Metadata.SequenceNr, s.Metadata.Timestamp));
        Command<SaveSnapshotFailure>(OnSnapshotFailed);
        Command<DeleteSnapshotsSuccess>(_ => { });
        Command<DeleteSnapshotsFailure>(f => _log.Warning("run {0}: old snapshots not deleted: {1}", RunId, f.Cause.Message));
    }

    private void Subscribe(IActorRef subscriber, bool history)
    {
        // often a pbm client's Ask, gone once it has its answer: watched, so its end removes it (no dead letters)
        _subscribers.Add(subscriber);
        Context.Watch(subscriber);
        if (history && Phase != RunPhase.Starting)
        {
            SendHistory(subscriber);
        }
    }

    private void SendHistory(IActorRef subscriber) =>
        _subscribers.SendHistory(subscriber, _state, _session.TotalSteps, _execution?.WorkerCount ?? 0, Finished);

    // ---------------------------------------------------------------- steps

    private bool ParametersCurrent => _execution?.ParametersCurrent ?? true;

    /// <summary>Starts the next step when there is none in flight and the run has steps left.</summary>
    private void Advance()
    {
        if (Phase is RunPhase.Running or RunPhase.Waiting && _execution is { InFlight: null } && !_session.Finished)
        {
            Apply(_execution.Begin());
        }
    }

    /// <summary>Acts on what the step execution decided.</summary>
    private void Apply(StepDecision decision)
    {
        switch (decision.Status)
        {
            case StepStatus.Working:
                _live = RunPhase.Running;
                break;
            case StepStatus.Committed:
                Committed(decision.Report!.Value, decision.Hash);
                break;
            case StepStatus.Restart or StepStatus.Resume:
                Advance();
                break;
            case StepStatus.Wait:
                Wait(decision.Reason!);
                break;
            case StepStatus.Fail:
                Fail(decision.Reason!, decision.Failure);
                break;
            case StepStatus.Rewind:
                // the next incarnation recovers from the journal: it must hold what this one wrote (a quarantine)
                _log.Warning("run {0}: {1}", RunId, decision.Reason);
                _journal.Flush();
                Become(() => CommandAny(_ => Stash.Stash())); // until then nothing more; the next incarnation answers
                DeferAsync(Self, _ => Context.Stop(Self));
                break;
        }
    }

    /// <summary>
    /// What follows a committed step, whoever computed it: the next step goes out first (the epoch's test
    /// metrics need these parameters, so they are taken before it), then the hash (checked against the
    /// journal for a step recomputed after a restart) and the journal, the snapshot, the end.
    /// </summary>
    private void Committed(StepReport report, string? replicasHash)
    {
        _live = RunPhase.Running;
        EpochReport? epoch = _session.AtEpochEnd ? _session.EndEpoch() : null;
        Advance();

        long hashing = Stopwatch.GetTimestamp();
        string hash = replicasHash ?? ParameterHash.Of(_session.Parameters);
        if (replicasHash is null)
        {
            _steps.Telemetry.Phases.AddSince(StepPhase.Hash, hashing);
        }

        ClusterMeters.StepCommitted(_session.LastStepImages);
        if (_journal.Step(new StepRecorded(report.Step, report.Epoch, report.Loss, report.LearningRate, hash, report.Images, report.TrainSeconds)) is string problem)
        {
            Fail(problem, RunFailure.Disagreement);
            return;
        }

        if (epoch is { } ended)
        {
            _journal.Epoch(new EpochRecorded(ended.Epoch, ended.Step, ended.TrainLoss, ended.TestLoss, ended.TestAccuracy, ended.TrainSeconds, ended.ImagesPerSecond, ended.SparseAlphaFraction));
            _snapshots.Take();
        }
        else if (_session.Step % _run.Config.SnapshotEvery == 0)
        {
            _snapshots.Take();
        }

        if (_session.Finished)
        {
            Finish();
        }
    }

    private void OnTick()
    {
        _journal.Flush();
        if (_execution!.InFlight is null)
        {
            if (_live == RunPhase.Waiting)
            {
                Advance();
            }

            return;
        }

        Apply(_execution.Tick());
    }

    private void Wait(string reason)
    {
        bool began = _live != RunPhase.Waiting;
        _live = RunPhase.Waiting;
        if (_subscribers.Waiting(_session.Step, reason, began))
        {
            _log.Warning("run {0}: waiting: {1}", RunId, reason);
        }
    }

    /// <summary>An event is in the journal (or was already, for a recomputed step): apply it and tell the subscribers.</summary>
    private void Recorded(IRunEvent e)
    {
        _state = _state.Updated(e);
        StoreWorks();
        _subscribers.Recorded(e, _session.TotalSteps, _execution?.WorkerCount ?? 0);
        if (e is SnapshotRecorded)
        {
            _snapshots.Prune(_state);
        }
    }

    private RunStatus Status(RunPhase? phase = null)
    {
        StepRecorded? last = _state.Steps.Count > 0 ? _state.Steps[^1] : null;
        return new RunStatus(RunId, _run.Config.Model, (phase ?? Phase).ToWire(), _session.Step, _session.TotalSteps, last?.Loss,
            _state.LastAccuracy, CurrentHash(), _execution?.WorkerCount ?? 0, _state.Ended?.Reason);
    }

    /// <summary>The hash of the run's parameters now: of this session's when they are current, else the last committed step's (the replicas').</summary>
    private string CurrentHash() => _execution?.CurrentHash() ?? ParameterHash.Of(_session.Parameters);

    private RunFinished Finished() =>
        new(RunId, _session.Step, CurrentHash(), _session.TrainSeconds, _session.Images / Math.Max(1e-9, _session.TrainSeconds),
            _steps.Telemetry.Traffic(_steps.Workers.BytesSent, _steps.Workers.BytesReceived, _execution?.NodeTraffic(), _state.Quarantines.Select(q => q.Worker).Distinct().ToArray()));

    /// <summary>The periodic tick; it does not count as activity for an ended run's passivation.</summary>
    private sealed class TickMessage : INotInfluenceReceiveTimeout
    {
        public static readonly TickMessage Instance = new();
    }
}

using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using CnnCluster.Coordinator.Persistence;
using CnnCluster.Coordinator.Telemetry;
using CnnCluster.Engine.Layers;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.DataPlane;
using CnnCluster.Shared.Protocol;
using CnnCluster.Shared.Security;
using CnnCluster.Shared.Transport;

namespace CnnCluster.Coordinator.Cluster;

/// <summary>
/// One training run on the coordinator (DESIGN §4–§5), a persistent actor (run-&lt;id&gt;) that wires three
/// parts to messages: the <see cref="TrainingSession"/> (parameters, optimizer state, data order, the
/// update), the <see cref="StepScheduler{TWorker}"/> (who computes which tree nodes, lost workers,
/// stragglers, which results count) and the <see cref="RunState"/> (its journaled history, one
/// transition function for recovery and live events).
/// A step: the assignment goes to in-process workers by reference and to remote ones over their data
/// plane (<see cref="DataLink"/>; Akka chunks for a worker without one); the results complete the tree
/// in order; the update is applied and the next step's assignment goes out at once. The hash, the
/// journal and the snapshot of the step just committed follow while the workers compute. Steps are
/// journaled in groups, one <see cref="StepsRecorded"/> event of up to <see cref="JournalBatch"/> steps
/// (or what a tick finds), and a step is reported to
/// subscribers only once journaled; a crash loses at most the unjournaled tail, which is recomputed
/// from the last snapshot like any step after it.
/// After a crash it continues from its last good snapshot and recomputes the steps after it, checking
/// each against the hash in its journal: the result is bit-identical to a run that never stopped. A
/// snapshot that fails its checksum (or cannot be read) is rejected (journaled) and the one before it
/// is used.
/// </summary>
public sealed class TrainingRun : ReceivePersistentActor, IWithTimers
{
    /// <summary>Steps journaled as one event (at most; a tick flushes fewer).</summary>
    public const int JournalBatch = 32;

    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan WaitingReminder = TimeSpan.FromSeconds(10);

    private readonly string _runId;
    private readonly RunConfig _config;
    private readonly RunOrigin _origin;
    private readonly RunData _data;
    private readonly TrainingSession _session;
    private readonly long _incarnation = Random.Shared.NextInt64(1, long.MaxValue);
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly ChunkAssembler _chunks;
    private readonly IActorRef _directory;
    private readonly TimeSpan? _passivateAfter;
    private readonly HashSet<IActorRef> _subscribers = new();
    private readonly TreeReducer _reducer;
    private readonly StepScheduler<IActorRef> _scheduler;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Dictionary<IActorRef, string> _endpoints = new(); // data-plane endpoints ("" for none); threads live in the scheduler
    private readonly Dictionary<IActorRef, DataLink> _links = new();
    private readonly HashSet<IActorRef> _akkaOnly = new();
    private readonly TrafficCounters _traffic = new();
    private readonly StepPhaseLog _phases;
    private readonly List<StepRecorded> _unjournaled = new();
    private readonly ShardedGroup<IActorRef> _group = new(Comparer<IActorRef>.Default);
    private readonly DataTraffic _dataTraffic = new();
    private readonly Dictionary<IActorRef, NodeTraffic> _workerTraffic = new();
    private readonly Dictionary<IActorRef, int> _strikes = new();
    private readonly CheckCounters _checks = new();
    private long _shardedSteps;

    private RunState _state = RunState.Empty;
    private RunPhase _phase = RunPhase.Starting;
    private IReadOnlyDictionary<long, string> _recomputedHashes = new Dictionary<long, string>();
    private IReadOnlySet<long> _recomputedEpochs = new HashSet<long>();
    private StepInProgress? _step;
    private long _lastStepStart;
    private (long Step, string Checksum, long Bytes)? _saving;
    private bool _snapshotWanted;
    private long _lastSnapshotStep = -1;
    private bool _endJournaled;
    private DateTime _lastWaitingNotice = DateTime.MinValue;
    private long _parametersStep; // the step _session.Parameters belong to (behind the run's step in a sharded run between captures)
    private string? _lastHash;
    private bool _storeWorks;

    public TrainingRun(string runId, RunConfig config, RunOrigin origin, RunData data, IActorRef directory, int evaluationThreads, IActorRef? subscriber, SchedulerSettings? scheduling = null, TimeSpan? passivateAfter = null)
    {
        _runId = runId;
        _passivateAfter = passivateAfter;
        _config = config;
        _origin = origin;
        _data = data;
        _directory = directory;
        Network network = Network.Build(ModelSpecJson.Parse(config.ModelJson));
        _session = new TrainingSession(network, config.ToTrainingOptions(evaluationThreads), data.Train, data.Test, evaluationThreads);
        _reducer = new TreeReducer(GradientBuffers.Shared(network.ParameterCount));
        _scheduler = new StepScheduler<IActorRef>(scheduling ?? SchedulerSettings.Default, Comparer<IActorRef>.Default);
        _phases = new StepPhaseLog(ClusterMeters.PhaseTimed);
        _chunks = new ChunkAssembler(Context.System, 4L * network.ParameterCount + Chunking.ChunkSize); // a result: the gradient and a few fields
        if (subscriber is not null)
        {
            // often a pbm client's Ask, gone once it has its answer: watched, so its end removes it (no dead letters)
            _subscribers.Add(subscriber);
            Context.Watch(subscriber);
        }

        Recover<IProtocolMessage>(e => _state = _state.Updated(e));
        Recover<RecoveryCompleted>(_ => Restoring(_state.Snapshots.Keys.Reverse().ToList()));
        Running();
    }

    public override string PersistenceId => "run-" + _runId;

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(string runId, RunConfig config, RunOrigin origin, RunData data, IActorRef directory, int evaluationThreads, IActorRef? subscriber, SchedulerSettings? scheduling = null, TimeSpan? passivateAfter = null) =>
        Akka.Actor.Props.Create(() => new TrainingRun(runId, config, origin, data, directory, evaluationThreads, subscriber, scheduling, passivateAfter));

    /// <summary>
    /// Recovery replays the whole (small) journal, so a run knows its full history; the snapshot to
    /// continue from is then loaded explicitly: the newest one recorded, or the one before it if it
    /// fails its checksum (<see cref="Restoring"/>).
    /// </summary>
    public override Recovery Recovery => new(SnapshotSelectionCriteria.None);

    // a failing store stops this actor (Akka Persistence's rule); its backoff supervisor starts it again,
    // and it recovers once the store works. Until then the registry answers for it: "paused", with why.
    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
    {
        Paused(cause);
        base.OnPersistFailure(cause, @event, sequenceNr);
    }

    protected override void OnPersistRejected(Exception cause, object @event, long sequenceNr)
    {
        Paused(cause);
        base.OnPersistRejected(cause, @event, sequenceNr);
    }

    protected override void OnRecoveryFailure(Exception reason, object? message = null)
    {
        Paused(reason);
        base.OnRecoveryFailure(reason, message);
    }

    private void Paused(Exception cause)
    {
        string reason = StoreFailure.Describe(cause);
        _log.Error("run {0} paused at step {1}: {2}; it resumes by itself when the store works again", _runId, _session.Step, reason);
        Publish(new RunWaiting(_runId, _session.Step, $"paused: {reason}; it resumes by itself when the store works again"));
        Context.Parent.Tell(new RunPaused(_runId, Status() with { State = "paused", Reason = reason }));
    }

    protected override void PostStop()
    {
        foreach (DataLink link in _links.Values)
        {
            link.Dispose();
        }

        base.PostStop();
    }

    private TimeSpan Now => _clock.Elapsed;

    // ---------------------------------------------------------------- starting

    /// <summary>Loads the newest good snapshot among <paramref name="candidates"/> (newest first), then continues.</summary>
    private void Restoring(List<long> candidates)
    {
        if (candidates.Count == 0)
        {
            Continue();
            return;
        }

        long seq = candidates[0];
        IActorRef store = Akka.Persistence.Persistence.Instance.Apply(Context.System).SnapshotStoreFor(null);
        store.Tell(new LoadSnapshot(PersistenceId, new SnapshotSelectionCriteria(seq, DateTime.MaxValue, seq, DateTime.MinValue), seq));
        Become(() =>
        {
            Command<LoadSnapshotResult>(loaded =>
            {
                string? problem = loaded.Snapshot is { Snapshot: RunSnapshot snapshot } selected && selected.Metadata.SequenceNr == seq
                    ? SnapshotChecksum.Problem(_runId, snapshot, _session.Network.ParameterCount)
                    : "it is missing from the snapshot store";
                if (problem is null)
                {
                    var s = (RunSnapshot)loaded.Snapshot!.Snapshot;
                    _session.Restore(SnapshotChecksum.State(s));
                    _parametersStep = s.Step;
                    _lastSnapshotStep = s.Step;
                    Continue();
                }
                else
                {
                    // journal it and go back one snapshot; the journal still checks every recomputed step
                    _log.Error("run {0}: snapshot {1} is unusable ({2}); falling back to the one before it", _runId, seq, problem);
                    Persist(new SnapshotRejected(seq, problem), e =>
                    {
                        _state = _state.Updated(e);
                        Restoring(candidates.Skip(1).ToList());
                    });
                }
            });
            Command<LoadSnapshotFailed>(f =>
            {
                // the store failed (e.g. the database is away), not the snapshot: try again later
                _log.Warning("run {0}: cannot load snapshot {1} now ({2}); retrying after a backoff", _runId, seq, f.Cause.Message);
                Context.Stop(Self);
            });
            CommandAny(_ => Stash.Stash());
        });
    }

    /// <summary>After recovery and restore: record the start, tell subscribers the history, and go on.</summary>
    private void Continue()
    {
        // steps after the restored one will be recomputed and checked against the journal's hashes
        (_state, _recomputedHashes, _recomputedEpochs) = _state.RewoundTo(_session.Step);
        Become(Running);
        Stash.UnstashAll();

        if (!_state.Started)
        {
            if (_origin.Parameters is { } forked)
            {
                _session.StartFrom(forked);
            }

            Persist(new RunStarted(_runId, _config, _origin.ForkedFrom, _origin.ForkedFromSnapshot), e => _state = _state.Updated(e));
            if (_origin.Parameters is not null)
            {
                // a fork does not depend on its source's snapshots staying around
                TakeSnapshot();
            }
        }
        else if (_state.ForkedFrom is not null && _lastSnapshotStep < 0)
        {
            // a fork restarts from its own first snapshot; without one, its start is known only to this incarnation
            if (_origin.Parameters is { } forked)
            {
                _session.StartFrom(forked);
                TakeSnapshot();
            }
            else
            {
                Fail($"the fork's starting parameters (run {_state.ForkedFrom}) were never stored; fork it again");
                return;
            }
        }
        else if (_session.Step > 0)
        {
            _log.Info("run {0}: resumed at step {1} of {2}", _runId, _session.Step, _session.TotalSteps);
        }

        if (_state.Ended is { Status: "completed" } completed && _session.Step < completed.Step)
        {
            // its final snapshot was unusable: recompute the last steps (checked against the journal)
            _log.Warning("run {0}: completed at step {1} but restored at step {2}; recomputing the rest", _runId, completed.Step, _session.Step);
            _endJournaled = true;
            _state = _state with { Ended = null };
        }

        _phase = _state.Ended is { } ended ? RunState.PhaseOf(ended) : RunPhase.Running;
        foreach (IActorRef s in _subscribers)
        {
            SendHistory(s);
        }

        if (_state.Ended is not null)
        {
            // the registry may have missed it (a crash between the two journals)
            Context.Parent.Tell(new RunEndedNotice(_runId, _state.Ended.Status, _state.Ended.Step, LastAccuracy()));
            Become(Ended);
            return;
        }

        _directory.Tell(new SubscribeWorkers(Self));
        Timers.StartPeriodicTimer("tick", TickMessage.Instance, Tick);
    }

    // ---------------------------------------------------------------- behaviours

    private void Running()
    {
        Command<WorkerSet>(set =>
        {
            foreach ((IActorRef w, WorkerCapacity c) in set.Workers)
            {
                Join(w, c);
            }

            Advance();
        });
        Command<WorkerJoined>(j =>
        {
            Join(j.Worker, j.Capacity);
            Advance();
        });
        Command<WorkerLost>(l => Lose(l.Worker, l.Reason));
        Command<LinkClosed>(OnLinkClosed);
        Command<Chunk>(c =>
        {
            if (_chunks.Add(c, Sender) is { } whole)
            {
                Self.Forward(whole);
            }
        });
        Command<NodeResult>(OnResult);
        Command<NodeDone>(OnNodeDone);
        Command<StepDone>(OnStepDone);
        Command<ReplicaState>(OnReplicaState);
        Command<PartRefused>(OnPartRefused);
        Command<WorkFailed>(OnWorkFailed);
        Command<TickMessage>(_ => OnTick());
        Command<StopRun>(_ => Stop());
        Command<ResumeRun>(_ => Sender.Tell(new RunAccepted(_runId))); // running already
        Queries();
    }

    /// <summary>
    /// An ended run answers queries; late results and worker news go nowhere. Idle for a while (no query,
    /// its journal and snapshot written), it asks the registry to passivate it.
    /// </summary>
    private void Ended()
    {
        if (_passivateAfter is TimeSpan idle)
        {
            SetReceiveTimeout(idle);
        }

        Command<ReceiveTimeout>(_ =>
        {
            if (_unjournaled.Count == 0 && _saving is null)
            {
                SetReceiveTimeout(null);
                Context.Parent.Tell(new RunRegistry.RunIdle(_runId));
            }
        });
        Command<NodeResult>(r => ReturnGradient(r));
        Command<TickMessage>(_ => FlushJournal());
        Command<StopRun>(_ => Sender.Tell(Status()));
        Command<ResumeRun>(_ =>
        {
            IActorRef replyTo = Sender;
            FlushJournal();
            Persist(new RunResumed(_runId, _state.Ended?.Status ?? "ended"), e =>
            {
                _state = _state.Updated(e);
                _log.Info("run {0}: resumed by a user after it {1} at step {2}; continuing from its last snapshot", _runId, e.PreviousStatus, _session.Step);
                replyTo.Tell(new RunAccepted(_runId));

                // the registry stops this incarnation and starts the next, which recovers as unfinished and
                // continues from its last snapshot (messages meanwhile wait in the registry, as for passivation)
                SetReceiveTimeout(null);
                Context.Parent.Tell(new RunRegistry.RunIdle(_runId));
            });
        });
        Queries();
        CommandAny(_ => { });
    }

    private void Queries()
    {
        Command<SubscribeRun>(_ =>
        {
            _subscribers.Add(Sender);
            Context.Watch(Sender);
            SendHistory(Sender);
        });
        Command<Terminated>(t =>
        {
            _subscribers.Remove(t.ActorRef); // a statement: a false from a bool lambda would leave it unhandled (a death pact)
        });
        Command<ExportRun>(_ =>
        {
            var export = new ModelExport(_runId, _config.ModelJson, _parametersStep, (float[])_session.Parameters.Clone(), ParameterHash.Of(_session.Parameters));
            Chunking.Tell(Context.System, Sender, export, Self);
        });
        Command<RunStatusRequest>(_ => Sender.Tell(Status()));
        Command<ListSnapshots>(_ => Sender.Tell(new SnapshotList(_runId, _state.Snapshots.Values.ToArray())));
        Command<RunHistoryRequest>(_ => Chunking.Tell(Context.System, Sender, new RunHistory(
            _runId, _config, _phase.ToString().ToLowerInvariant(), _session.TotalSteps, _session.StepsPerEpoch,
            [.. _state.Steps], [.. _state.Epochs], [.. _state.Snapshots.Values], _state.Ended, _state.ForkedFrom), Self));
        Command<SaveSnapshotSuccess>(OnSnapshotSaved);
        Command<SaveSnapshotFailure>(f =>
        {
            if (StoreFailure.Classify(f.Cause) is StoreFailureKind.DiskFull or StoreFailureKind.ReadOnly)
            {
                // every later snapshot would fail too, and the run would go on with nothing to resume from
                // (a fast run did, to its end): pause as for a failed journal write, resume when there is room
                Paused(f.Cause);
                Context.Stop(Self);
                return;
            }

            if (_saving is { } saving)
            {
                _log.Warning("run {0}: snapshot at step {1} not saved ({2}); the next one is due in {3} steps", _runId, saving.Step, f.Cause.Message, _config.SnapshotEvery);
                _lastSnapshotStep = -1;
                SnapshotDone();
            }
        });
        Command<DeleteSnapshotsSuccess>(_ => { });
        Command<DeleteSnapshotsFailure>(f => _log.Warning("run {0}: old snapshots not deleted: {1}", _runId, f.Cause.Message));
    }

    // ---------------------------------------------------------------- workers

    private bool Sharded => _config.Reduction == Reduction.Sharded;

    private void Join(IActorRef worker, WorkerCapacity capacity)
    {
        _endpoints[worker] = capacity.DataEndpoint;
        if (!Sharded)
        {
            Send(_scheduler.Join(worker, capacity.Threads, Now));
        }
        else if (capacity.DataEndpoint.Length == 0)
        {
            _log.Warning("run {0}: worker {1} has no data plane and cannot hold a replica of a sharded run; it is left out", _runId, worker.Path);
        }
        else
        {
            // a replica from the next step boundary on (AdvanceSharded)
            _group.Join(worker, capacity.Threads, capacity.DataEndpoint);
        }
    }

    private void Lose(IActorRef worker, string reason)
    {
        _endpoints.Remove(worker);
        DropLink(worker);
        if (Sharded)
        {
            _scheduler.Lose(worker, Now);
            if (_group.Remove(worker))
            {
                RestartSharded($"worker {worker.Path} lost ({reason})");
            }

            return;
        }

        IReadOnlyList<Dispatch<IActorRef>> moved = _scheduler.Lose(worker, Now);
        if (moved.Count > 0)
        {
            _log.Warning("run {0} step {1}: worker {2} lost ({3}); {4} node(s) reassigned", _runId, _scheduler.Step, worker.Path, reason, moved.Sum(d => d.Nodes.Count));
        }

        Send(moved);
        WaitIfOrphaned();
    }

    private void OnWorkFailed(WorkFailed f)
    {
        if (f.RunId != _runId || f.Incarnation != _incarnation)
        {
            return;
        }

        if (Sharded && f.Reason.StartsWith(Worker.Sharded.ShardedReplica.OutOfStep, StringComparison.Ordinal))
        {
            // its replica missed a step (or was never made): it gets the run's state at the next boundary
            _log.Warning("run {0}: worker {1}: {2}; it gets the run's state again", _runId, Sender.Path, f.Reason);
            _scheduler.Lose(Sender, Now);
            if (_group.OutOfStep(Sender))
            {
                RestartSharded($"worker {Sender.Path} was out of step");
            }

            return;
        }

        _log.Warning("run {0}: worker {1} cannot compute and is left out of this run: {2}", _runId, Sender.Path, f.Reason);
        _endpoints.Remove(Sender);
        DropLink(Sender);
        Send(_scheduler.Exclude(Sender, Now));
        if (Sharded && _group.Remove(Sender))
        {
            RestartSharded($"worker {Sender.Path} left out");
            return;
        }

        WaitIfOrphaned();
    }

    /// <summary>A worker's data plane failed: it is reached through Akka from now on, and what it had moves.</summary>
    private void OnLinkClosed(LinkClosed closed)
    {
        if (!_links.TryGetValue(closed.Worker, out DataLink? link) || link != closed.Link)
        {
            return;
        }

        if (Sharded)
        {
            // a replica is reached through its data plane only
            Lose(closed.Worker, closed.Reason);
            return;
        }

        DropLink(closed.Worker);
        _akkaOnly.Add(closed.Worker);
        _log.Warning("run {0}: {1}; worker {2} gets its work through Akka from now on", _runId, closed.Reason, closed.Worker.Path);
        Send(_scheduler.Unassign(closed.Worker, Now));
    }

    private void DropLink(IActorRef worker)
    {
        if (_links.Remove(worker, out DataLink? link))
        {
            _traffic.Retire(link);
            link.Dispose();
        }
    }

    /// <summary>The worker's data-plane link (opened on first use), or null to use Akka.</summary>
    private DataLink? LinkTo(IActorRef worker)
    {
        if (_links.TryGetValue(worker, out DataLink? link))
        {
            return link;
        }

        if (_akkaOnly.Contains(worker) || _endpoints.GetValueOrDefault(worker, "") is not { Length: > 0 } endpoint)
        {
            return null;
        }

        IActorRef self = Self;
        DataLink? created = null;
        created = new DataLink(endpoint, message => self.Tell(message, worker), reason => self.Tell(new LinkClosed(worker, created!, reason)), _dataTraffic, trust: NodeTrustSetup.Of(Context.System));
        _links[worker] = created;
        return created;
    }

    // ---------------------------------------------------------------- steps

    /// <summary>Starts the next step when there is none in flight and the run has steps left.</summary>
    private void Advance()
    {
        if (_phase is not (RunPhase.Running or RunPhase.Waiting) || _step is not null || _session.Finished)
        {
            return;
        }

        if (Sharded)
        {
            AdvanceSharded();
            return;
        }

        if (_scheduler.Workers.Count == 0)
        {
            Wait(NoWorkers);
            return;
        }

        (long start, ArraySegment<int> batch) = BeginStep();
        long stepNumber = _session.Step;
        IReadOnlyList<Dispatch<IActorRef>> dispatches = _scheduler.Begin(stepNumber, new ShardPlan(batch.Count, _config.ShardSize).MicroShards, Now, node => _config.Verifies(stepNumber, node.Start));

        // a copy per step: in-process workers read it while late duplicates of an older step may still run
        float[] parameters = _reducer.Buffers.RentUncleared();
        _session.Parameters.CopyTo(parameters, 0);
        _step = new StepInProgress(_session.Step, batch.ToArray(), parameters, _traffic.Encoding(_links.Values));
        Send(dispatches);
        _phases.Add(StepPhase.Assign, Stopwatch.GetElapsedTime(start) - _step.Serializing);
        _step.AssignedAt = Stopwatch.GetTimestamp();
    }

    /// <summary>A step begins (star or sharded): the run is running, the last step's time is logged, the session gives the batch.</summary>
    private (long Start, ArraySegment<int> Batch) BeginStep()
    {
        long start = Stopwatch.GetTimestamp();
        _phase = RunPhase.Running;
        if (_lastStepStart != 0)
        {
            _phases.Add(StepPhase.Step, Stopwatch.GetElapsedTime(_lastStepStart, start));
        }

        _lastStepStart = start;
        return (start, _session.BeginStep());
    }

    private const string NoWorkers = "no workers in the cluster: start one (src/Worker with CLUSTER_SEEDS pointing at this coordinator)";

    private void Send(IReadOnlyList<Dispatch<IActorRef>> dispatches)
    {
        if (_step is not { } step)
        {
            return;
        }

        if (step.Sharded is { } sharded)
        {
            SendSharded(step, sharded, dispatches);
            return;
        }

        if (dispatches.Count > 0 && _phase == RunPhase.Waiting)
        {
            _phase = RunPhase.Running;
        }

        foreach (Dispatch<IActorRef> d in dispatches)
        {
            if (d.Reason == DispatchReason.Speculative)
            {
                _traffic.Speculative++;
                _log.Warning("run {0} step {1}: node {2} is late; also sent to {3}", _runId, step.Step, d.Nodes[0], d.Worker.Path);
            }
            else if (d.Reason is DispatchReason.Orphaned or DispatchReason.Recompute)
            {
                _traffic.Reassigned += d.Nodes.Count;
            }

            PassContext pass = _session.PassOf(step.Step);
            var work = new WorkAssignment(_runId, _incarnation, step.Step, _config.ModelJson, _config.DataLimit, _config.ShardSize, step.Batch, d.Nodes.ToArray(), step.Parameters!, _data.Fingerprint, pass.Seed, pass.Epoch, pass.Augment);
            _traffic.Assignments++;
            if (d.Worker.Path.Address.HasLocalScope)
            {
                d.Worker.Tell(work, Self); // by reference: nothing is encoded in-process
            }
            else if (LinkTo(d.Worker) is { } link)
            {
                link.Send(work);
            }
            else
            {
                long t = Stopwatch.GetTimestamp();
                _traffic.AkkaParameterBytes += Chunking.Tell(Context.System, d.Worker, work, Self);
                step.Serializing += Stopwatch.GetElapsedTime(t);
            }
        }
    }

    /// <summary>
    /// A worker's result: checked (<see cref="ResultCheck"/>) before it counts; a refused one is computed
    /// again elsewhere and counts against its worker. A node being verified counts once two workers agree
    /// bit for bit; the worker outvoted counts against it too (<see cref="Strike"/>).
    /// </summary>
    private void OnResult(NodeResult r)
    {
        StepInProgress? step = _step;
        if (r.RunId != _runId || r.Incarnation != _incarnation || step is null || r.Step != step.Step)
        {
            _traffic.Stale++;
            ReturnGradient(r);
            return;
        }

        if (ResultCheck.Problem(r, _session.Network.ParameterCount) is string problem)
        {
            _checks.Refused++;
            _log.Warning("run {0} step {1}: the result of node {2} from worker {3} is refused: {4}; it is computed again elsewhere", _runId, step.Step, r.Node, Sender.Path, problem);
            ReturnGradient(r);
            IActorRef worker = Sender;
            Send(_scheduler.Refuse(worker, r.Step, r.Node, Now));
            Strike(worker, $"result of node {r.Node} at step {r.Step} refused: {problem}");
            return;
        }

        ulong digest = _config.Verify > 0 ? ResultCheck.Digest(r) : 0;
        ResultOutcome outcome = _scheduler.Accept(Sender, r.Step, r.Node, Now, digest, out ulong agreed, out IReadOnlyList<IActorRef> outvoted);
        if (outcome == ResultOutcome.Held)
        {
            // kept until a second (or third) answer agrees with one of those held
            step.Held.TryAdd((r.Node.Start, digest), (r.Gradient, r.LossSum));
            step.ComputeBy[Sender] = step.ComputeBy.GetValueOrDefault(Sender) + r.ComputeMilliseconds;
            Send(_scheduler.Reassign(Now));
            return;
        }

        if (outcome != ResultOutcome.Accepted)
        {
            _traffic.Stale++;
            ReturnGradient(r);
            return;
        }

        if (_config.Verify > 0 && (step.Held.Count > 0 || outvoted.Count > 0))
        {
            r = Agreed(step, r, digest, agreed, outvoted);
        }

        _traffic.Results++;
        if (!Sender.Path.Address.HasLocalScope && !_links.ContainsKey(Sender))
        {
            _traffic.AkkaGradientBytes += 4L * r.Gradient.Length;
        }

        step.Done.Add(r.Node.Start, (r.Node, r.Gradient, r.LossSum));
        step.ComputeBy[Sender] = step.ComputeBy.GetValueOrDefault(Sender) + r.ComputeMilliseconds;
        if (_scheduler.Complete)
        {
            double compute = step.ComputeBy.Values.Max() * 1000;
            double encode = (_traffic.Encoding(_links.Values) - step.EncodingAtStart).TotalMicroseconds;
            double waited = Stopwatch.GetElapsedTime(step.AssignedAt).TotalMicroseconds;
            _phases.Add(StepPhase.Compute, compute);
            _phases.Add(StepPhase.Serialize, step.Serializing.TotalMicroseconds + encode);
            _phases.Add(StepPhase.Transfer, Math.Max(0, waited - compute - encode));
            Commit(step);
        }
    }

    /// <summary>A verified node is in: the answer with the agreed digest counts, the others' buffers go back, and the outvoted are struck.</summary>
    private NodeResult Agreed(StepInProgress step, NodeResult last, ulong digest, ulong agreed, IReadOnlyList<IActorRef> outvoted)
    {
        NodeResult counted = last;
        if (digest != agreed)
        {
            (float[] gradient, double loss) = step.Held[(last.Node.Start, agreed)];
            counted = last with { Gradient = gradient, LossSum = loss };
            ReturnGradient(last);
        }

        foreach (((int start, ulong d), (float[] gradient, double _)) in step.Held.Where(h => h.Key.Start == last.Node.Start).ToList())
        {
            step.Held.Remove((start, d));
            if (!ReferenceEquals(gradient, counted.Gradient))
            {
                _reducer.Buffers.Return(gradient);
            }
        }

        _checks.Verified++;
        if (outvoted.Count > 0)
        {
            _checks.Disagreements++;
            foreach (IActorRef worker in outvoted)
            {
                _log.Warning("run {0} step {1}: worker {2} computed node {3} differently from two others; theirs counts", _runId, last.Step, worker.Path, last.Node);
                Strike(worker, $"node {last.Node} at step {last.Step} disagreed with two other workers");
            }
        }

        return counted;
    }

    /// <summary>
    /// A worker's result failed (refused, or outvoted): at the second failure it is quarantined, in this
    /// run and in the directory (no run gives it work; `pbm worker list` shows why), until its node rejoins.
    /// True when it was quarantined.
    /// </summary>
    private bool Strike(IActorRef worker, string reason)
    {
        int strikes = _strikes[worker] = _strikes.GetValueOrDefault(worker) + 1;
        if (strikes < 2 || !(_scheduler.Workers.Contains(worker) || _group.IsMember(worker)))
        {
            return false;
        }

        string why = $"quarantined after {strikes} failed results (last: {reason})";
        _log.Error("run {0}: worker {1} {2}", _runId, worker.Path, why);
        _checks.Quarantined.Add(worker.Path.ToString());
        _directory.Tell(new QuarantineWorker(worker, why));
        _endpoints.Remove(worker);
        DropLink(worker);
        Send(_scheduler.Exclude(worker, Now));
        if (Sharded && _group.Remove(worker))
        {
            RestartSharded($"worker {worker.Path} quarantined");
            return true;
        }

        WaitIfOrphaned();
        return true;
    }

    /// <summary>
    /// Completes the tree and applies the update, sends the next step's work, and only then does what the
    /// next step does not need: the hash (checked against the journal for a recomputed step), the
    /// journal, the epoch's events and the snapshot.
    /// </summary>
    private void Commit(StepInProgress step)
    {
        long start = Stopwatch.GetTimestamp();
        foreach ((int _, (TreeNode node, float[] gradient, double loss)) in step.Done.OrderBy(kv => kv.Key))
        {
            _reducer.Push(node.Start, node.Level, gradient, loss);
        }

        (float[] sum, double lossSum) = _reducer.Finish();
        long reduced = _phases.AddSince(StepPhase.Reduce, start);
        StepReport report;
        try
        {
            report = _session.Commit(sum, lossSum, step.Batch.Length);
        }
        catch (TrainingDivergedException e)
        {
            Fail(e.Message);
            return;
        }

        _phases.AddSince(StepPhase.Optimizer, reduced);
        _reducer.Buffers.Return(sum);
        _reducer.Buffers.Return(step.Parameters!);
        _step = null;
        _scheduler.End(Now);
        _parametersStep = _session.Step;

        // the epoch's test metrics need these parameters and run outside the step clock, so before the next step
        EpochReport? epoch = _session.AtEpochEnd ? _session.EndEpoch() : null;
        Advance();

        long hashing = Stopwatch.GetTimestamp();
        string hash = ParameterHash.Of(_session.Parameters);
        _phases.AddSince(StepPhase.Hash, hashing);
        Committed(report, epoch, hash);
    }

    /// <summary>
    /// What follows a committed step whoever committed it: the hash checked against the journal (a step
    /// recomputed after a restart) or journaled, the epoch's metrics, the snapshot, the end.
    /// </summary>
    private void Committed(StepReport report, EpochReport? epoch, string hash)
    {
        _lastHash = hash;
        var recorded = new StepRecorded(report.Step, report.Epoch, report.Loss, report.LearningRate, hash, report.Images, report.TrainSeconds);
        ClusterMeters.StepCommitted(_session.LastStepImages);
        if (_recomputedHashes.TryGetValue(report.Step, out string? expected))
        {
            // recomputed after a restart: it must be the very step the journal holds
            if (expected != hash)
            {
                Fail($"determinism violated: step {report.Step} recomputed after a restart has parameter hash {hash[..12]}, the journal says {expected[..12]}");
                return;
            }

            Recorded(recorded);
        }
        else
        {
            // journaled with the next group, reported once the journal has it
            _unjournaled.Add(recorded);
            if (_unjournaled.Count >= JournalBatch)
            {
                FlushJournal();
            }
        }

        if (epoch is { } ended)
        {
            var epochRecorded = new EpochRecorded(ended.Epoch, ended.Step, ended.TrainLoss, ended.TestLoss, ended.TestAccuracy, ended.TrainSeconds, ended.ImagesPerSecond, ended.SparseAlphaFraction);
            if (_recomputedEpochs.Contains(epochRecorded.Step))
            {
                Recorded(epochRecorded);
            }
            else
            {
                JournalEvent(epochRecorded);
            }

            TakeSnapshot();
        }
        else if (_session.Step % _config.SnapshotEvery == 0)
        {
            TakeSnapshot();
        }

        if (_session.Finished)
        {
            Finish();
        }
    }

    // ---------------------------------------------------------------- sharded steps

    /// <summary>A sharded step whose nodes are all computed but whose slices do not all arrive within this is run again.</summary>
    private static readonly TimeSpan ExchangeDeadline = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The next sharded step: the workers waiting for a replica get the run's state first (when this session
    /// holds it; else after the next step, whose plan asks member 0 for it), then every member gets the
    /// step's plan: the members' endpoints (member k owns slice k), every tree node, its own nodes.
    /// </summary>
    private void AdvanceSharded()
    {
        if (_group.Waiting.Count > 0 && _parametersStep == _session.Step)
        {
            var admitted = new List<string>();
            foreach ((IActorRef worker, (int threads, string _)) in _group.Waiting.ToList())
            {
                if (LinkTo(worker) is not { } link)
                {
                    _group.Remove(worker);
                    continue;
                }

                // copies: the link encodes them later, and a capture may change the session's before that
                link.Send(new ReplicaInit(_runId, _incarnation, _config, _data.Fingerprint, _session.Step, (float[])_session.Parameters.Clone(), (float[])_session.Optimizer.Velocity.Clone()));
                _group.Admit(worker);
                _scheduler.Join(worker, threads, Now);
                admitted.Add(worker.Path.ToString());
            }

            if (admitted.Count > 0)
            {
                _log.Info("run {0}: replica(s) sent for step {1} to {2}; {3} member(s) from the next step", _runId, _session.Step, string.Join(", ", admitted), _group.Members.Count);
            }
        }

        IReadOnlyList<IActorRef> members = _group.Members;
        if (members.Count == 0)
        {
            if (_group.Waiting.Count > 0 && _parametersStep != _session.Step)
            {
                // every replica is gone, and with them the state after step _session.Step: continue from the last snapshot
                _log.Warning("run {0}: every replica was lost after step {1}; continuing from the last snapshot (the steps after it are recomputed and checked)", _runId, _session.Step);
                Context.Stop(Self);
                return;
            }

            Wait(NoWorkers);
            return;
        }

        (long start, ArraySegment<int> batch) = BeginStep();
        long step = _session.Step + 1;
        IReadOnlyList<Dispatch<IActorRef>> dispatches = _scheduler.Begin(step, new ShardPlan(batch.Count, _config.ShardSize).MicroShards, Now);
        bool capture = _group.Waiting.Count > 0 || step % _config.SnapshotEvery == 0 || step % _session.StepsPerEpoch == 0 || step >= _session.TotalSteps;
        var progress = new ShardedStepProgress<IActorRef>(_group.NextGeneration(), members, capture)
        {
            Endpoints = members.Select(_group.EndpointOf).ToArray(),
            Nodes = dispatches.SelectMany(d => d.Nodes).OrderBy(n => n.Start).ToArray(),
        };
        _step = new StepInProgress(step, batch.ToArray(), null, _traffic.Encoding(_links.Values), progress);
        for (int k = 0; k < members.Count; k++)
        {
            TreeNode[] mine = dispatches.Where(d => d.Worker.Equals(members[k])).SelectMany(d => d.Nodes).ToArray();
            progress.Assign(members[k], mine);
            _traffic.Assignments++;
            LinkTo(members[k])!.Send(new StepPlan(_runId, _incarnation, progress.Generation, step, progress.Endpoints, k, progress.Nodes, mine, capture && k == 0));
        }

        _phases.Add(StepPhase.Assign, Stopwatch.GetElapsedTime(start));
        _step.AssignedAt = Stopwatch.GetTimestamp();
    }

    /// <summary>Nodes sent once more during a sharded step (a straggler's): the same plan, with these nodes as the worker's.</summary>
    private void SendSharded(StepInProgress step, ShardedStepProgress<IActorRef> sharded, IReadOnlyList<Dispatch<IActorRef>> dispatches)
    {
        foreach (Dispatch<IActorRef> d in dispatches)
        {
            int k = sharded.Members.ToList().IndexOf(d.Worker);
            if (k < 0 || LinkTo(d.Worker) is not { } link)
            {
                continue;
            }

            _traffic.Speculative += d.Reason == DispatchReason.Speculative ? 1 : 0;
            _log.Warning("run {0} step {1}: node(s) {2} late; also sent to {3}", _runId, step.Step, string.Join(" ", d.Nodes), d.Worker.Path);
            sharded.Assign(d.Worker, d.Nodes);
            link.Send(new StepPlan(_runId, _incarnation, sharded.Generation, step.Step, sharded.Endpoints, k, sharded.Nodes, d.Nodes.ToArray(), Capture: false));
        }
    }

    /// <summary>
    /// A member was lost or fell out of step during a sharded step: the step runs again, whole, by a new
    /// generation of the members left (replicas that already committed it go back to its start).
    /// </summary>
    private void RestartSharded(string reason)
    {
        if (_step is not { Sharded: { } sharded } step)
        {
            return; // between steps: the next plan has the new membership
        }

        _log.Warning("run {0} step {1}: {2}; the step runs again with the {3} member(s) left", _runId, step.Step, reason, _group.Members.Count);
        _traffic.Reassigned += sharded.Nodes.Length;
        _scheduler.End(Now, committed: false);
        _step = null;
        Advance();
    }

    private ShardedStepProgress<IActorRef>? CurrentSharded(string runId, long incarnation, long step, int generation) =>
        runId == _runId && incarnation == _incarnation && _step is { Sharded: { } sharded } s && s.Step == step && sharded.Generation == generation ? sharded : null;

    /// <summary>
    /// A slice owner refused a part of a node (not finite, wrong length): the worker that computed it is
    /// struck (quarantined at the second failure) and the step runs again. Every owner reports the same
    /// node; the first report restarts the step, and the others are of an older generation.
    /// </summary>
    private void OnPartRefused(PartRefused p)
    {
        if (CurrentSharded(p.RunId, p.Incarnation, p.Step, p.Generation) is not { } sharded)
        {
            return;
        }

        _checks.Refused++;
        IReadOnlyList<IActorRef> computedBy = sharded.AssignedTo(p.Node);
        _log.Warning("run {0} step {1}: a part of node {2} from {3} was refused by its slice's owner: {4}", _runId, p.Step, p.Node,
            computedBy.Count == 1 ? computedBy[0].Path.ToString() : $"one of {computedBy.Count} workers", p.Reason);
        // a quarantine restarts the step itself, without the worker
        if (computedBy.Count != 1 || !Strike(computedBy[0], $"a part of node {p.Node} at step {p.Step} refused: {p.Reason}"))
        {
            RestartSharded($"a part of node {p.Node} was refused");
        }
    }

    private void OnNodeDone(NodeDone d)
    {
        if (CurrentSharded(d.RunId, d.Incarnation, d.Step, d.Generation) is not { } sharded || _scheduler.Accept(Sender, d.Step, d.Node, Now) != ResultOutcome.Accepted)
        {
            _traffic.Stale++;
            return;
        }

        _traffic.Results++;
        _step!.ComputeBy[Sender] = _step.ComputeBy.GetValueOrDefault(Sender) + d.ComputeMilliseconds;
        if (_scheduler.Complete)
        {
            sharded.AllNodesAt = Now;
        }
    }

    private void OnStepDone(StepDone d)
    {
        if (CurrentSharded(d.RunId, d.Incarnation, d.Step, d.Generation) is not { } sharded || !sharded.Add(Sender, d))
        {
            _traffic.Stale++;
            return;
        }

        NodeTraffic t = _workerTraffic.GetValueOrDefault(Sender) ?? new NodeTraffic(_group.EndpointOf(Sender), 0, 0, 0, 0, 0);
        _workerTraffic[Sender] = t with
        {
            Steps = t.Steps + 1, StepBytesSent = t.StepBytesSent + d.BytesSent, StepBytesReceived = t.StepBytesReceived + d.BytesReceived,
            StateBytesSent = d.StateBytesSent, StateBytesReceived = d.StateBytesReceived,
        };
        CommitSharded(sharded);
    }

    private void OnReplicaState(ReplicaState r)
    {
        if (CurrentSharded(r.RunId, r.Incarnation, r.Step, _step?.Sharded?.Generation ?? -1) is not { Capture: true, Captured: null } sharded
            || r.Parameters.Length != _session.Network.ParameterCount || r.Velocity.Length != r.Parameters.Length)
        {
            return;
        }

        sharded.Captured = r;
        CommitSharded(sharded);
    }

    /// <summary>Once every member reported the step (and the state asked for is in): the replicas' agreed hash, the step counted here, then as any committed step.</summary>
    private void CommitSharded(ShardedStepProgress<IActorRef> sharded)
    {
        StepInProgress step = _step!;
        if (!sharded.Complete)
        {
            return;
        }

        (string hash, double lossSum, string? disagreement) = sharded.Outcome(Worker.Sharded.ShardedReplica.Hasher(step.Step, sharded.Members.Count));
        if (disagreement is not null)
        {
            Fail(disagreement + "; one of these machines computes wrongly");
            return;
        }

        double compute = step.ComputeBy.Count > 0 ? step.ComputeBy.Values.Max() * 1000 : 0;
        _phases.Add(StepPhase.Compute, compute);
        _phases.Add(StepPhase.Transfer, Math.Max(0, Stopwatch.GetElapsedTime(step.AssignedAt).TotalMicroseconds - compute));
        StepReport report;
        try
        {
            report = _session.CommittedElsewhere(lossSum, step.Batch.Length);
        }
        catch (TrainingDivergedException e)
        {
            Fail(e.Message);
            return;
        }

        if (sharded.Captured is { } captured)
        {
            _session.Adopt(captured.Step, captured.Parameters, captured.Velocity);
            _parametersStep = captured.Step;
            GradientBuffers.Shared(captured.Parameters.Length).Return(captured.Parameters);
            GradientBuffers.Shared(captured.Velocity.Length).Return(captured.Velocity);
        }

        _step = null;
        _scheduler.End(Now);
        _shardedSteps++;
        EpochReport? epoch = _session.AtEpochEnd ? _session.EndEpoch() : null;
        Advance();
        Committed(report, epoch, hash);
    }

    /// <summary>Per-node bytes of a sharded run: this coordinator's, then each worker's as it reported them.</summary>
    private NodeTraffic[]? NodeTraffic() => !Sharded ? null :
        [new NodeTraffic("coordinator", _shardedSteps, _dataTraffic.StepSent, _dataTraffic.StepReceived, _dataTraffic.StateSent, _dataTraffic.StateReceived),
         .. _workerTraffic.Values.OrderBy(t => t.Node, StringComparer.Ordinal)];

    private void ReturnGradient(NodeResult r)
    {
        if (r.Gradient.Length == _reducer.Buffers.Length && !Sender.Path.Address.HasLocalScope)
        {
            _reducer.Buffers.Return(r.Gradient);
        }
    }

    private void OnTick()
    {
        FlushJournal();
        if (_step is null)
        {
            if (_phase == RunPhase.Waiting)
            {
                Advance();
            }

            return;
        }

        Send(_scheduler.Tick(Now));
        if (_step?.Sharded is { AllNodesAt: { } computed } && Now - computed > ExchangeDeadline)
        {
            RestartSharded($"its slices were not all exchanged within {ExchangeDeadline.TotalSeconds:F0} s of the last node");
            return;
        }

        WaitIfOrphaned();
    }

    private void WaitIfOrphaned()
    {
        if (_step is not null && _scheduler.Orphans > 0)
        {
            Wait($"step {_step.Step}: all workers lost; {_scheduler.Orphans} node(s) wait for a worker");
        }
    }

    private void Wait(string reason)
    {
        bool changed = _phase != RunPhase.Waiting;
        _phase = RunPhase.Waiting;
        if (changed || DateTime.UtcNow - _lastWaitingNotice > WaitingReminder)
        {
            _lastWaitingNotice = DateTime.UtcNow;
            _log.Warning("run {0}: waiting: {1}", _runId, reason);
            Publish(new RunWaiting(_runId, _session.Step, reason));
        }
    }

    // ---------------------------------------------------------------- journal

    /// <summary>Journals the buffered step events (in order, before anything journaled after them).</summary>
    private void FlushJournal()
    {
        if (_unjournaled.Count == 0)
        {
            return;
        }

        long start = Stopwatch.GetTimestamp();
        var group = new StepsRecorded(_unjournaled.ToArray());
        _unjournaled.Clear();
        PersistAsync(group, g =>
        {
            _phases.AddSince(StepPhase.Journal, start);
            Recorded(g);
        });
    }

    /// <summary>Journals an event after the buffered steps; it counts once the journal has it.</summary>
    private void JournalEvent(IProtocolMessage e)
    {
        FlushJournal();
        PersistAsync(e, Recorded);
    }

    /// <summary>An event is in the journal (or was already, for a recomputed step): apply it and tell the subscribers.</summary>
    private void Recorded(IProtocolMessage e)
    {
        _state = _state.Updated(e);
        if (!_storeWorks)
        {
            _storeWorks = true;
            Context.Parent.Tell(new RunStoreWorks(_runId));
        }

        switch (e)
        {
            case StepRecorded s:
                Publish(ToMessage(s));
                break;
            case StepsRecorded group:
                foreach (StepRecorded s in group.Steps)
                {
                    Publish(ToMessage(s));
                }

                break;
            case EpochRecorded ep:
                Publish(ToMessage(ep));
                break;
            case SnapshotRecorded:
                PruneSnapshots();
                break;
        }
    }

    // ---------------------------------------------------------------- snapshots

    private void TakeSnapshot()
    {
        if (_lastSnapshotStep == _session.Step || _parametersStep != _session.Step)
        {
            return; // taken, or (sharded) the replicas' state after this step was not asked for
        }

        if (_saving is not null)
        {
            // one save in flight at a time, so replies match their snapshot; the next one follows it
            _snapshotWanted = true;
            return;
        }

        long start = Stopwatch.GetTimestamp();
        RunSnapshot snapshot = SnapshotChecksum.Create(_runId, _session.Capture());
        _saving = (snapshot.Step, snapshot.Checksum, 8L * snapshot.Parameters.Length);
        _lastSnapshotStep = snapshot.Step;
        SaveSnapshot(snapshot);
        _phases.AddSince(StepPhase.Snapshot, start);
    }

    private void SnapshotDone()
    {
        _saving = null;
        if (_snapshotWanted)
        {
            _snapshotWanted = false;
            TakeSnapshot();
        }
    }

    private void OnSnapshotSaved(SaveSnapshotSuccess saved)
    {
        if (_saving is not { } saving)
        {
            return; // a reply for an earlier incarnation
        }

        JournalEvent(new SnapshotRecorded(saved.Metadata.SequenceNr, saving.Step, saving.Bytes, saving.Checksum, saved.Metadata.Timestamp));
        ClusterMeters.SnapshotSaved(saving.Bytes);
        SnapshotDone();
    }

    /// <summary>Keeps the newest N snapshots: older ones are deleted from the store and the pruning journaled.</summary>
    private void PruneSnapshots()
    {
        if (_state.Snapshots.Count > _config.KeepSnapshots)
        {
            long upTo = _state.Snapshots.Keys.Reverse().Skip(_config.KeepSnapshots).First();
            DeleteSnapshots(new SnapshotSelectionCriteria(upTo));
            JournalEvent(new SnapshotsPruned(upTo));
        }
    }

    // ---------------------------------------------------------------- ending

    private void Finish()
    {
        TakeSnapshot();
        var end = new RunEnded("completed", _session.Step, CurrentHash(), null);
        End(end, journal: !_endJournaled, then: () => Publish(Finished()));
    }

    private void Fail(string reason)
    {
        End(new RunEnded("failed", _session.Step, null, reason), journal: true, then: () => Publish(new RunFailed(_runId, _session.Step, reason)));
    }

    /// <summary>Ends the run for good where it is: a snapshot of the state, then the end in the journal.</summary>
    private void Stop()
    {
        IActorRef replyTo = Sender;
        TakeSnapshot();
        End(new RunEnded("stopped", _session.Step, CurrentHash(), "stopped by a user"), journal: true, then: () =>
        {
            Publish(new RunFailed(_runId, _session.Step, "stopped by a user"));
            replyTo.Tell(Status());
        });
    }

    private void End(RunEnded end, bool journal, Action then)
    {
        if (_step is { } step)
        {
            if (step.Parameters is { } parameters)
            {
                _reducer.Buffers.Return(parameters);
            }

            _step = null;
        }

        _scheduler.End(Now, committed: false);
        Timers.CancelAll();
        _phase = RunState.PhaseOf(end);
        Become(Ended);
        if (journal)
        {
            FlushJournal();
            Persist(end, OnEnded);
        }
        else
        {
            OnEnded(end);
        }

        void OnEnded(RunEnded ended)
        {
            _state = _state.Updated(ended);
            if (journal)
            {
                // one line per run's end (its start is the registry's "accepted"); an incarnation that answers from its journal says nothing
                // (a failure at Error level, with its reason)
                string line = $"run {_runId} {ended.Status} at step {ended.Step}{(ended.ParamSha256 is string sha ? $", param_sha256 {sha}" : ended.Reason is string why ? $": {why}" : string.Empty)}";
                if (ended.Status == "failed")
                {
                    _log.Error("{0}", line);
                }
                else
                {
                    _log.Info("{0}", line);
                }
            }

            then();
            Context.Parent.Tell(new RunEndedNotice(_runId, ended.Status, ended.Step, LastAccuracy()));
        }
    }

    private RunStatus Status()
    {
        StepRecorded? last = _state.Steps.Count > 0 ? _state.Steps[^1] : null;
        return new RunStatus(_runId, _config.Model, _phase.ToString().ToLowerInvariant(), _session.Step, _session.TotalSteps, last?.Loss,
            LastAccuracy(), CurrentHash(), _scheduler.Workers.Count, _state.Ended?.Reason);
    }

    private double? LastAccuracy() => _state.Epochs.Count > 0 ? _state.Epochs[^1].TestAccuracy : null;

    private RunFinished Finished() =>
        new(_runId, _session.Step, CurrentHash(), _session.TrainSeconds, _session.Images / Math.Max(1e-9, _session.TrainSeconds), _traffic.ToMessage(_links.Values, _phases.Figures(), NodeTraffic()) with { Checks = _checks.ToMessage() });

    /// <summary>The hash of the run's parameters now: of this session's when they are current, else the last committed step's (the replicas').</summary>
    private string CurrentHash() =>
        _parametersStep == _session.Step || _lastHash is null ? ParameterHash.Of(_session.Parameters) : _lastHash;

    /// <summary>A new subscriber first gets what happened so far, then live events.</summary>
    private void SendHistory(IActorRef subscriber)
    {
        if (_phase == RunPhase.Starting)
        {
            return; // the history is sent once recovery and restore are done
        }

        foreach (StepRecorded s in _state.Steps)
        {
            subscriber.Tell(ToMessage(s));
        }

        foreach (EpochRecorded e in _state.Epochs)
        {
            subscriber.Tell(ToMessage(e));
        }

        if (_state.Ended is { Status: "completed" })
        {
            subscriber.Tell(Finished());
        }
        else if (_state.Ended is { } failed)
        {
            subscriber.Tell(new RunFailed(_runId, failed.Step, failed.Reason ?? failed.Status));
        }
    }

    private StepCommitted ToMessage(StepRecorded s) =>
        new(_runId, s.Step, _session.TotalSteps, s.Epoch, s.Loss, s.LearningRate, s.Images, s.TrainSeconds, _scheduler.Workers.Count);

    private EpochCompleted ToMessage(EpochRecorded e) =>
        new(_runId, e.Epoch, e.Step, e.TrainLoss, e.TestLoss, e.TestAccuracy, e.TrainSeconds, e.ImagesPerSecond, e.SparseAlphaFraction);

    private void Publish(object message)
    {
        foreach (IActorRef s in _subscribers)
        {
            s.Tell(message);
        }
    }

    /// <summary>The step in flight: its batch, the parameters its workers compute with, the results so far, and its timings.</summary>
    private sealed class StepInProgress(long step, int[] batch, float[]? parameters, TimeSpan encodingAtStart, ShardedStepProgress<IActorRef>? sharded = null)
    {
        public long Step { get; } = step;

        public int[] Batch { get; } = batch;

        /// <summary>The star's copy of the parameters its workers compute with (null in a sharded step: the replicas hold them).</summary>
        public float[]? Parameters { get; } = parameters;

        public ShardedStepProgress<IActorRef>? Sharded { get; } = sharded;

        public Dictionary<int, (TreeNode Node, float[] Gradient, double Loss)> Done { get; } = new();

        /// <summary>Answers of nodes being verified that wait for agreement, by node and digest.</summary>
        public Dictionary<(int Start, ulong Digest), (float[] Gradient, double Loss)> Held { get; } = new();

        public Dictionary<IActorRef, double> ComputeBy { get; } = new();

        public TimeSpan EncodingAtStart { get; } = encodingAtStart;

        public TimeSpan Serializing { get; set; }

        public long AssignedAt { get; set; }
    }

    /// <summary>What checking the results found (<see cref="ResultChecks"/>).</summary>
    private sealed class CheckCounters
    {
        public long Refused;
        public long Verified;
        public long Disagreements;

        public List<string> Quarantined { get; } = new();

        public ResultChecks ToMessage() => new(Refused, Verified, Disagreements, Quarantined.ToArray());
    }

    /// <summary>What crossed the wire for the run; data-plane bytes are counted by the links.</summary>
    private sealed class TrafficCounters
    {
        public long Assignments;
        public long AkkaParameterBytes;
        public long Results;
        public long AkkaGradientBytes;
        public long Reassigned;
        public long Speculative;
        public long Stale;
        private long _retiredSent, _retiredReceived;
        private TimeSpan _retiredEncoding;

        public void Retire(DataLink link)
        {
            _retiredSent += link.BytesSent;
            _retiredReceived += link.BytesReceived;
            _retiredEncoding += link.Encoding;
        }

        public TimeSpan Encoding(Dictionary<IActorRef, DataLink>.ValueCollection live)
        {
            TimeSpan sum = _retiredEncoding; // read twice a step: no enumerator boxed
            foreach (DataLink link in live)
            {
                sum += link.Encoding;
            }

            return sum;
        }

        public RunTraffic ToMessage(IEnumerable<DataLink> live, double[] phases, NodeTraffic[]? nodes) => new(
            Assignments, AkkaParameterBytes + _retiredSent + live.Sum(l => l.BytesSent), Results, AkkaGradientBytes + _retiredReceived + live.Sum(l => l.BytesReceived),
            Reassigned, Speculative, Stale, phases, nodes);
    }

    /// <summary>A data-plane link ended (from the link's own thread).</summary>
    private sealed record LinkClosed(IActorRef Worker, DataLink Link, string Reason);

    /// <summary>The periodic tick; it does not count as activity for an ended run's passivation.</summary>
    private sealed class TickMessage : INotInfluenceReceiveTimeout
    {
        public static readonly TickMessage Instance = new();
    }
}

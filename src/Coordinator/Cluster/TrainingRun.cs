using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using CnnCluster.Coordinator.Persistence;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.Protocol;
using CnnCluster.Shared.Transport;

namespace CnnCluster.Coordinator.Cluster;

/// <summary>
/// One training run on the coordinator (DESIGN §4–§5), a persistent actor (run-&lt;id&gt;).
/// Computing: it owns the parameters and optimizer state (a <see cref="TrainingSession"/>), and for
/// every step hands contiguous ranges of micro-shards to the known workers as aligned tree nodes,
/// collects one gradient per node, completes the tree in order and commits the update. A lost worker's
/// nodes move to others in the same step; a node past its deadline also goes to another worker (the
/// first answer wins, both are equal); results of another step or incarnation are dropped; with no
/// worker the run waits and says so.
/// Persisting: small events per step (loss, parameter hash), per epoch and at the end; a snapshot
/// (parameters, optimizer state, position) every K steps, at each epoch end and at the end, keeping the
/// newest N. After a crash it continues from its last good snapshot and recomputes the steps after it,
/// checking each against the hash in its journal: the result is bit-identical to a run that never
/// stopped. A snapshot that fails its checksum (or cannot be read) is rejected (journaled) and the one
/// before it is used.
/// </summary>
public sealed class TrainingRun : ReceivePersistentActor, IWithTimers
{
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan WaitingReminder = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan MinimumDeadline = TimeSpan.FromSeconds(1);

    private readonly string _runId;
    private readonly RunConfig _config;
    private readonly RunOrigin _origin;
    private readonly RunData _data;
    private readonly TrainingSession _session;
    private readonly long _incarnation = Random.Shared.NextInt64(1, long.MaxValue);
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly ChunkAssembler _chunks;
    private readonly IActorRef _directory;
    private readonly Dictionary<IActorRef, int> _workers = new();
    private readonly HashSet<IActorRef> _excluded = new();
    private readonly HashSet<IActorRef> _suspects = new();
    private readonly HashSet<IActorRef> _subscribers = new();
    private readonly TreeReducer _reducer;
    private readonly Traffic _traffic = new();
    private readonly StepPhaseLog _phases;
    private long _lastStepStart;

    // the journal as recovered and extended
    private readonly List<StepRecorded> _steps = new();
    private readonly Dictionary<long, string> _journaledHashes = new();
    private readonly HashSet<long> _journaledEpochs = new();
    private readonly List<EpochRecorded> _epochs = new();
    private readonly SortedDictionary<long, SnapshotRecorded> _snapshots = new();
    private (long Step, string Checksum, long Bytes)? _saving;
    private bool _snapshotWanted;
    private bool _started;
    private string? _forkedFrom;
    private bool _ready;
    private bool _endJournaled;
    private RunEnded? _ended;

    private StepInProgress? _step;
    private double _typicalStepSeconds = 5; // the first steps include JIT compilation and model builds on the workers
    private DateTime _lastWaitingNotice = DateTime.MinValue;
    private long _lastSnapshotStep = -1;
    private string _state = "starting";

    public TrainingRun(string runId, RunConfig config, RunOrigin origin, RunData data, IActorRef directory, int evaluationThreads, IActorRef? subscriber)
    {
        _runId = runId;
        _config = config;
        _origin = origin;
        _data = data;
        _directory = directory;
        Network network = Network.Build(ModelSpecJson.Parse(config.ModelJson));
        _session = new TrainingSession(network, config.ToTrainingOptions(evaluationThreads), data.Train, data.Test, evaluationThreads);
        _reducer = new TreeReducer(GradientBuffers.Shared(network.ParameterCount));
        _phases = new StepPhaseLog(_session.TotalSteps);
        _chunks = new ChunkAssembler(Context.System);
        if (subscriber is not null)
        {
            _subscribers.Add(subscriber);
        }

        Recovering();
        Running();
    }

    public override string PersistenceId => "run-" + _runId;

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(string runId, RunConfig config, RunOrigin origin, RunData data, IActorRef directory, int evaluationThreads, IActorRef? subscriber) =>
        Akka.Actor.Props.Create(() => new TrainingRun(runId, config, origin, data, directory, evaluationThreads, subscriber));

    /// <summary>
    /// Recovery replays the whole (small) journal, so a run knows its full history; the snapshot to
    /// continue from is then loaded explicitly: the newest one recorded, or the one before it if it
    /// fails its checksum (<see cref="Restoring"/>).
    /// </summary>
    public override Recovery Recovery => new(SnapshotSelectionCriteria.None);

    private void Recovering()
    {
        Recover<RunStarted>(e =>
        {
            _started = true;
            _forkedFrom = e.ForkedFrom;
        });
        Recover<StepRecorded>(e => _steps.Add(e));
        Recover<EpochRecorded>(e => _epochs.Add(e));
        Recover<SnapshotRecorded>(e => _snapshots[e.SequenceNr] = e);
        Recover<SnapshotsPruned>(e => Prune(_snapshots, e.UpToSequenceNr));
        Recover<SnapshotRejected>(e => _snapshots.Remove(e.SequenceNr));
        Recover<RunEnded>(e => _ended = e);
        Recover<RecoveryCompleted>(_ => Restoring(_snapshots.Keys.Reverse().ToList()));
    }

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
                    _lastSnapshotStep = s.Step;
                    Continue();
                }
                else
                {
                    Reject(seq, problem, candidates);
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

    private void Reject(long seq, string problem, List<long> candidates)
    {
        // journal it and go back one snapshot; the journal still checks every recomputed step
        _log.Error("run {0}: snapshot {1} is unusable ({2}); falling back to the one before it", _runId, seq, problem);
        _snapshots.Remove(seq);
        Persist(new SnapshotRejected(seq, problem), _ => Restoring(candidates.Skip(1).ToList()));
    }

    /// <summary>After recovery and restore: record the start, tell subscribers the history, and go on.</summary>
    private void Continue()
    {
        _ready = true;
        Become(Running);
        Stash.UnstashAll();

        // steps after the restored one will be recomputed and checked against the journal's hashes
        foreach (StepRecorded s in _steps.Where(s => s.Step > _session.Step))
        {
            _journaledHashes[s.Step] = s.ParamSha256;
        }

        foreach (EpochRecorded e in _epochs.Where(e => e.Step > _session.Step))
        {
            _journaledEpochs.Add(e.Step);
        }

        _steps.RemoveAll(s => s.Step > _session.Step);
        _epochs.RemoveAll(e => e.Step > _session.Step);

        if (!_started)
        {
            if (_origin.Parameters is { } forked)
            {
                _session.StartFrom(forked);
            }

            _started = true;
            Persist(new RunStarted(_runId, _config, _origin.ForkedFrom, _origin.ForkedFromSnapshot), _ => { });
            if (_origin.Parameters is not null)
            {
                // a fork does not depend on its source's snapshots staying around
                TakeSnapshot();
            }
        }
        else if (_forkedFrom is not null && _lastSnapshotStep < 0)
        {
            // a fork restarts from its own first snapshot; without one, its start is known only to this incarnation
            if (_origin.Parameters is { } forked)
            {
                _session.StartFrom(forked);
                TakeSnapshot();
            }
            else
            {
                Fail($"the fork's starting parameters (run {_forkedFrom}) were never stored; fork it again");
                return;
            }
        }
        else if (_session.Step > 0)
        {
            _log.Info("run {0}: resumed at step {1} of {2}", _runId, _session.Step, _session.TotalSteps);
        }

        foreach (IActorRef s in _subscribers)
        {
            SendHistory(s);
        }

        if (_ended is { Status: "completed" } completed && _session.Step < completed.Step)
        {
            // its final snapshot was unusable: recompute the last steps (checked against the journal)
            _log.Warning("run {0}: completed at step {1} but restored at step {2}; recomputing the rest", _runId, completed.Step, _session.Step);
            _endJournaled = true;
            _ended = null;
        }

        if (_ended is not null)
        {
            _state = _ended.Status;

            // the registry may have missed it (a crash between the two journals)
            Context.Parent.Tell(new RunEndedNotice(_runId, _ended.Status));
            return;
        }

        _directory.Tell(new SubscribeWorkers(Self));
        Timers.StartPeriodicTimer("tick", TickMessage.Instance, Tick);
    }

    private void Running()
    {
        Command<WorkerSet>(set =>
        {
            foreach ((IActorRef w, int threads) in set.Threads)
            {
                _workers[w] = threads;
            }

            Advance();
        });
        Command<WorkerJoined>(j =>
        {
            if (!_excluded.Contains(j.Worker))
            {
                _workers[j.Worker] = j.Threads;
                AssignOrphans();
                Advance();
            }
        });
        Command<WorkerLost>(l => Lose(l.Worker, l.Reason));
        Command<Chunk>(c =>
        {
            if (_chunks.Add(c, Sender) is { } whole)
            {
                Self.Forward(whole);
            }
        });
        Command<NodeResult>(OnResult);
        Command<WorkFailed>(OnWorkFailed);
        Command<TickMessage>(_ => OnTick());
        Command<SubscribeRun>(_ =>
        {
            _subscribers.Add(Sender);
            Context.Watch(Sender);
            SendHistory(Sender);
        });
        Command<Terminated>(t => _subscribers.Remove(t.ActorRef));
        Command<ExportRun>(_ =>
        {
            var export = new ModelExport(_runId, _config.ModelJson, _session.Step, (float[])_session.Parameters.Clone(), ParameterHash.Of(_session.Parameters));
            Chunking.Tell(Context.System, Sender, export, Self);
        });
        Command<RunStatusRequest>(_ => Sender.Tell(Status()));
        Command<ListSnapshots>(_ => Sender.Tell(new SnapshotList(_runId, _snapshots.Values.ToArray())));
        Command<StopRun>(_ => Stop());
        Command<SaveSnapshotSuccess>(OnSnapshotSaved);
        Command<SaveSnapshotFailure>(f =>
        {
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

    /// <summary>Starts the next step when there is none in flight, or finishes the run.</summary>
    private void Advance()
    {
        if (_ended is not null || _state == "failed" || _step is not null)
        {
            return;
        }

        if (_session.Finished)
        {
            Finish();
            return;
        }

        IReadOnlyList<IActorRef> workers = Available();
        if (workers.Count == 0)
        {
            Wait("no workers in the cluster: start one (src/Worker with CLUSTER_SEEDS pointing at this coordinator)");
            return;
        }

        _state = "running";
        long start = Stopwatch.GetTimestamp();
        if (_lastStepStart != 0)
        {
            _phases.Add(StepPhase.Step, Stopwatch.GetElapsedTime(_lastStepStart, start));
        }

        _lastStepStart = start;
        ArraySegment<int> batch = _session.BeginStep();
        var plan = new ShardPlan(batch.Count, _config.ShardSize);

        // a copy per step: in-process workers read it while late duplicates of an older step may still run
        float[] parameters = _reducer.Buffers.RentUncleared();
        _session.Parameters.CopyTo(parameters, 0);
        _step = new StepInProgress(_session.Step, batch.ToArray(), plan, parameters, Stopwatch.StartNew());
        IReadOnlyList<(int Worker, int First, int Count)> ranges = WorkPlanner.Split(plan.MicroShards, workers.Select(w => _workers[w]).ToList());
        foreach ((int w, int first, int count) in ranges)
        {
            Send(workers[w], WorkPlanner.Decompose(first, count, plan.MicroShards));
        }

        _phases.Add(StepPhase.Assign, Stopwatch.GetElapsedTime(start) - _step.Serializing);
        _phases.Add(StepPhase.Serialize, _step.Serializing);
        _step.AssignedAt = Stopwatch.GetTimestamp();
    }

    private void Send(IActorRef worker, IReadOnlyList<TreeNode> nodes)
    {
        StepInProgress step = _step!;
        foreach (TreeNode node in nodes)
        {
            if (!step.Pending.TryGetValue(node.Start, out Pending? pending))
            {
                pending = new Pending(node);
                step.Pending[node.Start] = pending;
            }

            pending.Assignees.Add(worker);
            pending.Since.Restart();
        }

        var work = new WorkAssignment(_runId, _incarnation, step.Step, _config.ModelJson, _config.DataLimit, _config.ShardSize, step.Batch, nodes.ToArray(), step.Parameters, _data.Fingerprint);
        _traffic.Assignments++;
        long t = Stopwatch.GetTimestamp();
        _traffic.ParameterBytes += Chunking.Tell(Context.System, worker, work, Self);
        step.Serializing += Stopwatch.GetElapsedTime(t);
    }

    private void OnResult(NodeResult r)
    {
        // any answer, even a late one, shows the worker is alive
        _suspects.Remove(Sender);
        StepInProgress? step = _step;
        if (r.RunId != _runId || r.Incarnation != _incarnation || step is null || r.Step != step.Step
            || !step.Pending.TryGetValue(r.Node.Start, out Pending? pending) || pending.Node != r.Node)
        {
            _traffic.Stale++;
            return;
        }

        _log.Debug("run {0} step {1}: node {2} from {3} after {4:F1} ms (computed in {5:F1} ms)", _runId, step.Step, r.Node, Sender.Path, step.Clock.Elapsed.TotalMilliseconds, r.ComputeMilliseconds);
        _traffic.Results++;
        if (!Sender.Path.Address.HasLocalScope)
        {
            _traffic.GradientBytes += 4L * r.Gradient.Length;
        }

        step.Pending.Remove(r.Node.Start);
        step.SlowestDoneSeconds = Math.Max(step.SlowestDoneSeconds, pending.Since.Elapsed.TotalSeconds);
        step.Done.Add(r.Node.Start, (r.Node, r.Gradient, r.LossSum));
        step.ComputeBy[Sender] = step.ComputeBy.GetValueOrDefault(Sender) + r.ComputeMilliseconds;
        if (step.Pending.Count == 0)
        {
            double compute = step.ComputeBy.Values.Max() * 1000;
            _phases.Add(StepPhase.Compute, compute);
            _phases.Add(StepPhase.Transfer, Math.Max(0, Stopwatch.GetElapsedTime(step.AssignedAt).TotalMicroseconds - compute));
            Commit(step);
        }
    }

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

        long optimized = _phases.AddSince(StepPhase.Optimizer, reduced);
        _reducer.Buffers.Return(sum);
        _reducer.Buffers.Return(step.Parameters);
        _step = null;
        _typicalStepSeconds = 0.8 * _typicalStepSeconds + 0.2 * step.Clock.Elapsed.TotalSeconds;

        string hash = ParameterHash.Of(_session.Parameters);
        long hashed = _phases.AddSince(StepPhase.Hash, optimized);
        var recorded = new StepRecorded(report.Step, report.Epoch, report.Loss, report.LearningRate, hash, report.Images, report.TrainSeconds);
        if (_journaledHashes.Remove(report.Step, out string? expected))
        {
            // recomputed after a restart: it must be the very step the journal holds
            if (expected != hash)
            {
                Fail($"determinism violated: step {report.Step} recomputed after a restart has parameter hash {hash[..12]}, the journal says {expected[..12]}");
                return;
            }
        }
        else
        {
            PersistAsync(recorded, _ => _phases.AddSince(StepPhase.Journal, hashed));
        }

        _steps.Add(recorded);
        Publish(ToMessage(recorded));
        if (_session.AtEpochEnd)
        {
            EpochReport e = _session.EndEpoch();
            var epoch = new EpochRecorded(e.Epoch, e.Step, e.TrainLoss, e.TestLoss, e.TestAccuracy, e.TrainSeconds, e.ImagesPerSecond);
            _epochs.Add(epoch);
            if (!_journaledEpochs.Remove(epoch.Step))
            {
                PersistAsync(epoch, _ => { });
            }

            Publish(ToMessage(epoch));
            TakeSnapshot();
        }
        else if (_session.Step % _config.SnapshotEvery == 0)
        {
            TakeSnapshot();
        }

        Advance();
    }

    private void TakeSnapshot()
    {
        if (_lastSnapshotStep == _session.Step)
        {
            return;
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

        var recorded = new SnapshotRecorded(saved.Metadata.SequenceNr, saving.Step, saving.Bytes, saving.Checksum, saved.Metadata.Timestamp);
        _snapshots[recorded.SequenceNr] = recorded;
        PersistAsync(recorded, _ => { });
        if (_snapshots.Count > _config.KeepSnapshots)
        {
            long upTo = _snapshots.Keys.Reverse().Skip(_config.KeepSnapshots).First();
            DeleteSnapshots(new SnapshotSelectionCriteria(upTo));
            Prune(_snapshots, upTo);
            PersistAsync(new SnapshotsPruned(upTo), _ => { });
        }

        SnapshotDone();
    }

    private void OnWorkFailed(WorkFailed f)
    {
        if (f.RunId != _runId || f.Incarnation != _incarnation)
        {
            return;
        }

        _log.Warning("run {0}: worker {1} cannot compute and is left out of this run: {2}", _runId, Sender.Path, f.Reason);
        _excluded.Add(Sender);
        Lose(Sender, f.Reason);
    }

    private void Lose(IActorRef worker, string reason)
    {
        _suspects.Remove(worker);
        if (!_workers.Remove(worker) || _step is null)
        {
            return;
        }

        foreach (Pending p in _step.Pending.Values)
        {
            p.Assignees.Remove(worker);
        }

        int moved = AssignOrphans();
        if (moved > 0)
        {
            _log.Warning("run {0} step {1}: worker {2} lost ({3}); {4} node(s) reassigned", _runId, _step.Step, worker.Path, reason, moved);
        }
    }

    /// <summary>Gives every pending node that nobody is computing to the least busy worker.</summary>
    private int AssignOrphans()
    {
        if (_step is null)
        {
            return 0;
        }

        List<TreeNode> orphans = _step.Pending.Values.Where(p => p.Assignees.Count == 0).Select(p => p.Node).ToList();
        IReadOnlyList<IActorRef> workers = Available();
        if (orphans.Count == 0 || workers.Count == 0)
        {
            if (orphans.Count > 0)
            {
                Wait($"step {_step.Step}: all workers lost; {orphans.Count} node(s) wait for a worker");
            }

            return 0;
        }

        // one node each to the least busy workers, round robin
        var byLoad = workers.OrderBy(Load).ToList();
        var batches = new Dictionary<IActorRef, List<TreeNode>>();
        for (int i = 0; i < orphans.Count; i++)
        {
            IActorRef w = byLoad[i % byLoad.Count];
            (batches.TryGetValue(w, out var list) ? list : batches[w] = new List<TreeNode>()).Add(orphans[i]);
        }

        foreach ((IActorRef w, List<TreeNode> nodes) in batches)
        {
            Send(w, nodes);
        }

        _traffic.Reassigned += orphans.Count;
        return orphans.Count;
    }

    /// <summary>Nodes past their deadline are given to one more worker; the first answer wins.</summary>
    private void OnTick()
    {
        if (_step is null)
        {
            if (_state == "waiting")
            {
                Advance();
            }

            return;
        }

        AssignOrphans();

        // straggler rule (as MapReduce's backup tasks): once some nodes are in, a node taking 3× as long
        // as the slowest of them is late; before that, 4× a typical step
        double expected = _step.SlowestDoneSeconds > 0 ? 3 * _step.SlowestDoneSeconds : 4 * _typicalStepSeconds;
        TimeSpan deadline = TimeSpan.FromSeconds(Math.Max(MinimumDeadline.TotalSeconds, expected));
        foreach (Pending p in _step.Pending.Values.Where(p => p.Since.Elapsed > deadline && p.Assignees.Count > 0).ToList())
        {
            IActorRef? other = Available().Where(w => !p.Assignees.Contains(w)).OrderBy(Load).FirstOrDefault();
            if (other is not null)
            {
                // no new work for a worker that missed a deadline, until it answers again
                _suspects.UnionWith(p.Assignees);
                _log.Warning("run {0} step {1}: node {2} is {3:F1}s late on {4}; also sent to {5}", _runId, _step.Step, p.Node, p.Since.Elapsed.TotalSeconds, p.Assignees[0].Path, other.Path);
                _traffic.Speculative++;
                Send(other, [p.Node]);
            }
        }
    }

    private int Load(IActorRef worker) => _step?.Pending.Values.Count(p => p.Assignees.Contains(worker)) ?? 0;

    /// <summary>Workers to give work to, in a fixed order: all but the excluded, and but the suspects while others remain.</summary>
    private IReadOnlyList<IActorRef> Available()
    {
        List<IActorRef> usable = _workers.Keys.Where(w => !_excluded.Contains(w)).OrderBy(w => w.Path.ToString(), StringComparer.Ordinal).ToList();
        List<IActorRef> trusted = usable.Where(w => !_suspects.Contains(w)).ToList();
        return trusted.Count > 0 ? trusted : usable;
    }

    private void Wait(string reason)
    {
        bool changed = _state != "waiting";
        _state = "waiting";
        if (changed || DateTime.UtcNow - _lastWaitingNotice > WaitingReminder)
        {
            _lastWaitingNotice = DateTime.UtcNow;
            _log.Warning("run {0}: waiting: {1}", _runId, reason);
            Publish(new RunWaiting(_runId, _session.Step, reason));
        }
    }

    private void Finish()
    {
        TakeSnapshot();
        string hash = ParameterHash.Of(_session.Parameters);
        Timers.CancelAll();
        var end = new RunEnded("completed", _session.Step, hash, null);
        if (_endJournaled)
        {
            Ended(end);
        }
        else
        {
            Persist(end, Ended);
        }

        void Ended(RunEnded ended)
        {
            _ended = ended;
            _state = ended.Status;
            Publish(Finished());
            Context.Parent.Tell(new RunEndedNotice(_runId, ended.Status));
        }
    }

    private void Fail(string reason)
    {
        _state = "failed";
        _step = null;
        Timers.CancelAll();
        _log.Error("run {0} failed: {1}", _runId, reason);
        Persist(new RunEnded("failed", _session.Step, null, reason), ended =>
        {
            _ended = ended;
            Publish(new RunFailed(_runId, ended.Step, reason));
            Context.Parent.Tell(new RunEndedNotice(_runId, ended.Status));
        });
    }

    private RunStatus Status()
    {
        StepRecorded? last = _steps.Count > 0 ? _steps[^1] : null;
        return new RunStatus(_runId, _config.Model, _state, _session.Step, _session.TotalSteps, last?.Loss, _epochs.Count > 0 ? _epochs[^1].TestAccuracy : null,
            ParameterHash.Of(_session.Parameters), Available().Count, _ended?.Reason);
    }

    /// <summary>Ends the run for good where it is: a snapshot of the state, then the end in the journal.</summary>
    private void Stop()
    {
        if (_ended is not null)
        {
            Sender.Tell(Status());
            return;
        }

        IActorRef replyTo = Sender;
        _step = null;
        Timers.CancelAll();
        TakeSnapshot();
        Persist(new RunEnded("stopped", _session.Step, ParameterHash.Of(_session.Parameters), "stopped by a user"), ended =>
        {
            _ended = ended;
            _state = ended.Status;
            Publish(new RunFailed(_runId, ended.Step, "stopped by a user"));
            Context.Parent.Tell(new RunEndedNotice(_runId, ended.Status));
            replyTo.Tell(Status());
        });
    }

    private RunFinished Finished() =>
        new(_runId, _session.Step, ParameterHash.Of(_session.Parameters), _session.TrainSeconds, _session.Images / Math.Max(1e-9, _session.TrainSeconds), _traffic.ToMessage(_phases.Medians()));

    /// <summary>A new subscriber first gets what happened so far, then live events.</summary>
    private void SendHistory(IActorRef subscriber)
    {
        if (!_ready)
        {
            return; // the history is sent once recovery and restore are done
        }

        foreach (StepRecorded s in _steps)
        {
            subscriber.Tell(ToMessage(s));
        }

        foreach (EpochRecorded e in _epochs)
        {
            subscriber.Tell(ToMessage(e));
        }

        if (_ended is { Status: "completed" })
        {
            subscriber.Tell(Finished());
        }
        else if (_ended is { } failed)
        {
            subscriber.Tell(new RunFailed(_runId, failed.Step, failed.Reason ?? failed.Status));
        }
    }

    private StepCommitted ToMessage(StepRecorded s) =>
        new(_runId, s.Step, _session.TotalSteps, s.Epoch, s.Loss, s.LearningRate, s.Images, s.TrainSeconds, Available().Count);

    private EpochCompleted ToMessage(EpochRecorded e) =>
        new(_runId, e.Epoch, e.Step, e.TrainLoss, e.TestLoss, e.TestAccuracy, e.TrainSeconds, e.ImagesPerSecond);

    private void Publish(object message)
    {
        foreach (IActorRef s in _subscribers)
        {
            s.Tell(message);
        }
    }

    private static void Prune(SortedDictionary<long, SnapshotRecorded> snapshots, long upTo)
    {
        foreach (long seq in snapshots.Keys.Where(k => k <= upTo).ToList())
        {
            snapshots.Remove(seq);
        }
    }

    private sealed record StepInProgress(long Step, int[] Batch, ShardPlan Plan, float[] Parameters, Stopwatch Clock)
    {
        public Dictionary<int, Pending> Pending { get; } = new();

        public Dictionary<int, (TreeNode Node, float[] Gradient, double Loss)> Done { get; } = new();

        public TimeSpan Serializing { get; set; }

        public long AssignedAt { get; set; }

        public Dictionary<IActorRef, double> ComputeBy { get; } = new();

        /// <summary>The longest a completed node took since it was (last) sent.</summary>
        public double SlowestDoneSeconds { get; set; }
    }

    private sealed class Pending(TreeNode node)
    {
        public TreeNode Node { get; } = node;

        public List<IActorRef> Assignees { get; } = new();

        public Stopwatch Since { get; } = new();
    }

    private sealed class Traffic
    {
        public long Assignments;
        public long ParameterBytes;
        public long Results;
        public long GradientBytes;
        public long Reassigned;
        public long Speculative;
        public long Stale;

        public RunTraffic ToMessage(double[] phases) => new(Assignments, ParameterBytes, Results, GradientBytes, Reassigned, Speculative, Stale, phases);
    }

    private sealed class TickMessage
    {
        public static readonly TickMessage Instance = new();
    }
}

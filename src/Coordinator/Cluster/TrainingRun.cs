using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.Protocol;
using CnnCluster.Shared.Transport;

namespace CnnCluster.Coordinator.Cluster;

/// <summary>
/// One training run on the coordinator (DESIGN §4–§5): owns the parameters and optimizer state
/// (a <see cref="TrainingSession"/>), and for every step hands contiguous ranges of micro-shards to
/// the known workers as aligned tree nodes, collects one gradient per node, completes the tree in
/// order and commits the update. A lost worker's nodes move to others in the same step; a node past
/// its deadline is also given to another worker (the first answer wins, both are equal); results for
/// another step or incarnation are dropped; with no worker the run waits and says so.
/// </summary>
public sealed class TrainingRun : ReceiveActor, IWithTimers
{
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan WaitingReminder = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan MinimumDeadline = TimeSpan.FromSeconds(1);

    private readonly string _runId;
    private readonly RunConfig _config;
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
    private StepInProgress? _step;
    private double _typicalStepSeconds = 5; // the first steps include JIT compilation and model builds on the workers
    private DateTime _lastWaitingNotice = DateTime.MinValue;
    private string _state = "starting";

    public TrainingRun(string runId, RunConfig config, RunData data, IActorRef directory, int evaluationThreads, IActorRef? subscriber)
    {
        _runId = runId;
        _config = config;
        _data = data;
        _directory = directory;
        Network network = Network.Build(ModelSpecJson.Parse(config.ModelJson));
        _session = new TrainingSession(network, config.ToTrainingOptions(evaluationThreads), data.Train, data.Test, evaluationThreads);
        _reducer = new TreeReducer(GradientBuffers.Shared(network.ParameterCount));
        _chunks = new ChunkAssembler(Context.System);
        if (subscriber is not null)
        {
            _subscribers.Add(subscriber);
        }

        Receive<WorkerSet>(set =>
        {
            foreach ((IActorRef w, int threads) in set.Threads)
            {
                _workers[w] = threads;
            }

            Advance();
        });
        Receive<WorkerJoined>(j =>
        {
            if (!_excluded.Contains(j.Worker))
            {
                _workers[j.Worker] = j.Threads;
                AssignOrphans();
                Advance();
            }
        });
        Receive<WorkerLost>(l => Lose(l.Worker, l.Reason));
        Receive<Chunk>(c =>
        {
            if (_chunks.Add(c, Sender) is { } whole)
            {
                Self.Forward(whole);
            }
        });
        Receive<NodeResult>(OnResult);
        Receive<WorkFailed>(OnWorkFailed);
        Receive<TickMessage>(_ => OnTick());
        Receive<SubscribeRun>(_ =>
        {
            _subscribers.Add(Sender);
            Context.Watch(Sender);
        });
        Receive<Terminated>(t => _subscribers.Remove(t.ActorRef));
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(string runId, RunConfig config, RunData data, IActorRef directory, int evaluationThreads, IActorRef? subscriber) =>
        Akka.Actor.Props.Create(() => new TrainingRun(runId, config, data, directory, evaluationThreads, subscriber));

    protected override void PreStart()
    {
        _directory.Tell(new SubscribeWorkers(Self));
        Timers.StartPeriodicTimer("tick", TickMessage.Instance, Tick);
    }

    /// <summary>Starts the next step when there is none in flight, or finishes the run.</summary>
    private void Advance()
    {
        if (_state is "completed" or "failed" || _step is not null)
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
        _traffic.ParameterBytes += Chunking.Tell(Context.System, worker, work, Self);
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
        if (step.Pending.Count == 0)
        {
            Commit(step);
        }
    }

    private void Commit(StepInProgress step)
    {
        foreach ((int _, (TreeNode node, float[] gradient, double loss)) in step.Done.OrderBy(kv => kv.Key))
        {
            _reducer.Push(node.Start, node.Level, gradient, loss);
        }

        (float[] sum, double lossSum) = _reducer.Finish();
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

        _reducer.Buffers.Return(sum);
        _reducer.Buffers.Return(step.Parameters);
        _step = null;
        _typicalStepSeconds = 0.8 * _typicalStepSeconds + 0.2 * step.Clock.Elapsed.TotalSeconds;
        Publish(new StepCommitted(_runId, report.Step, report.TotalSteps, report.Epoch, report.Loss, report.LearningRate, report.Images, report.TrainSeconds, Available().Count));
        if (_session.AtEpochEnd)
        {
            EpochReport e = _session.EndEpoch();
            Publish(new EpochCompleted(_runId, e.Epoch, e.Step, e.TrainLoss, e.TestLoss, e.TestAccuracy, e.TrainSeconds, e.ImagesPerSecond));
        }

        Advance();
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
        _state = "completed";
        string hash = ParameterHash.Of(_session.Parameters);
        Publish(new RunFinished(_runId, _session.Step, hash, _session.TrainSeconds, _session.Images / Math.Max(1e-9, _session.TrainSeconds), _traffic.ToMessage()));
        Timers.CancelAll();
    }

    private void Fail(string reason)
    {
        _state = "failed";
        _step = null;
        _log.Error("run {0} failed: {1}", _runId, reason);
        Publish(new RunFailed(_runId, _session.Step, reason));
        Timers.CancelAll();
    }

    private void Publish(object message)
    {
        foreach (IActorRef s in _subscribers)
        {
            s.Tell(message);
        }
    }

    private sealed record StepInProgress(long Step, int[] Batch, ShardPlan Plan, float[] Parameters, Stopwatch Clock)
    {
        public Dictionary<int, Pending> Pending { get; } = new();

        public Dictionary<int, (TreeNode Node, float[] Gradient, double Loss)> Done { get; } = new();

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

        public RunTraffic ToMessage() => new(Assignments, ParameterBytes, Results, GradientBytes, Reassigned, Speculative, Stale);
    }

    private sealed class TickMessage
    {
        public static readonly TickMessage Instance = new();
    }
}

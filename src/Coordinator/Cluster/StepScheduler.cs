using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Cluster;

/// <summary>Timings of the step scheduler, passed in (tests shorten them).</summary>
/// <param name="MinimumDeadline">No node is late before this.</param>
/// <param name="LateFactor">Once some nodes are in, a node is late after this many times the slowest of them.</param>
/// <param name="TypicalFactor">Before that, after this many typical steps.</param>
/// <param name="FirstStep">The typical step before any was measured (the first steps include JIT and model builds on workers).</param>
public sealed record SchedulerSettings(TimeSpan MinimumDeadline, double LateFactor, double TypicalFactor, TimeSpan FirstStep)
{
    public static SchedulerSettings Default { get; } = new(TimeSpan.FromSeconds(1), 3, 4, TimeSpan.FromSeconds(5));
}

/// <summary>Why nodes are sent.</summary>
public enum DispatchReason
{
    /// <summary>The step's plan.</summary>
    Plan,

    /// <summary>Nobody computed them any more (a worker was lost, or had no way to answer).</summary>
    Orphaned,

    /// <summary>Past their deadline on another worker: sent once more, the first answer wins.</summary>
    Speculative,
}

/// <summary>What to send: these tree nodes of the current step to this worker.</summary>
public readonly record struct Dispatch<TWorker>(TWorker Worker, IReadOnlyList<TreeNode> Nodes, DispatchReason Reason);

/// <summary>What became of a result handed to <see cref="StepScheduler{TWorker}.Accept"/>.</summary>
public enum ResultOutcome
{
    /// <summary>The first answer for a node of the current step: it counts.</summary>
    Accepted,

    /// <summary>Another step's, or no step is in progress.</summary>
    Stale,

    /// <summary>A node of the current step that is already in (a speculative twin's answer), or no such node.</summary>
    Duplicate,
}

/// <summary>
/// Who computes what in a step, as a pure state machine with no actors and no clock of its own (times are
/// passed in): it splits a step's micro-shards into aligned tree nodes among the workers in proportion
/// to their threads (<see cref="WorkPlanner"/>), moves a lost worker's nodes to others in the same step,
/// gives a node past its deadline to one more worker (the first answer wins: both are equal) and keeps
/// that late worker out of new work until it answers again, and tells which results count. Workers are
/// used in the order of <paramref name="order"/>, so the same membership always gives the same plan.
/// </summary>
public sealed class StepScheduler<TWorker>(SchedulerSettings settings, IComparer<TWorker> order)
    where TWorker : notnull
{
    private readonly Dictionary<TWorker, int> _threads = new();
    private readonly HashSet<TWorker> _excluded = new();
    private readonly HashSet<TWorker> _suspects = new();
    private readonly Dictionary<int, PendingNode> _pending = new();
    private TimeSpan _slowestDone;
    private TimeSpan _typicalStep = settings.FirstStep;
    private TimeSpan _stepStart;

    /// <summary>The step in progress, or null between steps.</summary>
    public long? Step { get; private set; }

    /// <summary>True when every node of the step in progress is in.</summary>
    public bool Complete => Step is not null && _pending.Count == 0;

    public int Pending => _pending.Count;

    public IReadOnlyCollection<TWorker> Workers => _threads.Keys;

    /// <summary>Workers to give work to, in order: all (an excluded one is never among them), but the suspects while others remain.</summary>
    public IReadOnlyList<TWorker> Available()
    {
        List<TWorker> usable = _threads.Keys.Order(order).ToList();
        List<TWorker> trusted = usable.Where(w => !_suspects.Contains(w)).ToList();
        return trusted.Count > 0 ? trusted : usable;
    }

    /// <summary>A worker can take work; during a step it takes nodes nobody is computing.</summary>
    public IReadOnlyList<Dispatch<TWorker>> Join(TWorker worker, int threads, TimeSpan now)
    {
        if (_excluded.Contains(worker))
        {
            return [];
        }

        _threads[worker] = threads;
        return AssignOrphans(now);
    }

    /// <summary>A worker is gone: its nodes of the current step move to the others.</summary>
    public IReadOnlyList<Dispatch<TWorker>> Lose(TWorker worker, TimeSpan now)
    {
        _suspects.Remove(worker);
        if (!_threads.Remove(worker))
        {
            return [];
        }

        return Unassign(worker, now);
    }

    /// <summary>A worker cannot compute this run (e.g. other data): it is left out for good and its nodes move.</summary>
    public IReadOnlyList<Dispatch<TWorker>> Exclude(TWorker worker, TimeSpan now)
    {
        _excluded.Add(worker);
        return Lose(worker, now);
    }

    /// <summary>A worker's link failed: what it was computing moves (possibly back to it, by another way).</summary>
    public IReadOnlyList<Dispatch<TWorker>> Unassign(TWorker worker, TimeSpan now)
    {
        foreach (PendingNode p in _pending.Values)
        {
            p.Assignees.Remove(worker);
        }

        return AssignOrphans(now);
    }

    /// <summary>
    /// Starts step <paramref name="step"/> of <paramref name="microShards"/> micro-shards: contiguous ranges
    /// in proportion to the threads of the available workers, each as the fewest aligned nodes. Empty when
    /// there is no worker (the step is not started).
    /// </summary>
    public IReadOnlyList<Dispatch<TWorker>> Begin(long step, int microShards, TimeSpan now)
    {
        if (Step is not null)
        {
            throw new InvalidOperationException($"step {Step} is still in progress");
        }

        IReadOnlyList<TWorker> workers = Available();
        if (workers.Count == 0)
        {
            return [];
        }

        Step = step;
        _stepStart = now;
        _slowestDone = TimeSpan.Zero;
        var dispatches = new List<Dispatch<TWorker>>();
        foreach ((int w, int first, int count) in WorkPlanner.Split(microShards, workers.Select(w => _threads[w]).ToList()))
        {
            IReadOnlyList<TreeNode> nodes = WorkPlanner.Decompose(first, count, microShards);
            foreach (TreeNode node in nodes)
            {
                _pending[node.Start] = new PendingNode(node, now, [workers[w]]);
            }

            dispatches.Add(new Dispatch<TWorker>(workers[w], nodes, DispatchReason.Plan));
        }

        return dispatches;
    }

    /// <summary>A result of <paramref name="node"/> for <paramref name="step"/> from <paramref name="worker"/>: does it count?</summary>
    public ResultOutcome Accept(TWorker worker, long step, TreeNode node, TimeSpan now)
    {
        // any answer, even a late one, shows the worker is alive
        _suspects.Remove(worker);
        if (Step != step)
        {
            return ResultOutcome.Stale;
        }

        if (!_pending.TryGetValue(node.Start, out PendingNode? pending) || pending.Node != node)
        {
            return ResultOutcome.Duplicate;
        }

        _pending.Remove(node.Start);
        TimeSpan took = now - pending.Since;
        if (took > _slowestDone)
        {
            _slowestDone = took;
        }

        return ResultOutcome.Accepted;
    }

    /// <summary>Ends the step in progress (committed, or abandoned); its duration feeds the deadline of the next.</summary>
    public void End(TimeSpan now, bool committed = true)
    {
        if (committed && Step is not null)
        {
            _typicalStep = 0.8 * _typicalStep + 0.2 * (now - _stepStart);
        }

        Step = null;
        _pending.Clear();
    }

    /// <summary>
    /// The periodic check: orphaned nodes go to the least busy workers; a node past its deadline goes to
    /// one more worker (as MapReduce's backup tasks), and its workers get no new work until they answer.
    /// </summary>
    public IReadOnlyList<Dispatch<TWorker>> Tick(TimeSpan now)
    {
        if (Step is null)
        {
            return [];
        }

        var dispatches = new List<Dispatch<TWorker>>(AssignOrphans(now));
        TimeSpan expected = _slowestDone > TimeSpan.Zero ? settings.LateFactor * _slowestDone : settings.TypicalFactor * _typicalStep;
        TimeSpan deadline = expected > settings.MinimumDeadline ? expected : settings.MinimumDeadline;
        foreach (PendingNode p in _pending.Values.Where(p => now - p.Since > deadline && p.Assignees.Count > 0).OrderBy(p => p.Node.Start).ToList())
        {
            TWorker? other = Available().Where(w => !p.Assignees.Contains(w)).OrderBy(Load).FirstOrDefault();
            if (other is not null)
            {
                _suspects.UnionWith(p.Assignees);
                p.Assignees.Add(other);
                p.Since = now;
                dispatches.Add(new Dispatch<TWorker>(other, [p.Node], DispatchReason.Speculative));
            }
        }

        return dispatches;
    }

    /// <summary>The step's nodes that wait for a worker.</summary>
    public int Orphans => _pending.Values.Count(p => p.Assignees.Count == 0);

    private int Load(TWorker worker) => _pending.Values.Count(p => p.Assignees.Contains(worker));

    /// <summary>Every pending node that nobody computes goes to the least busy workers, one each, round robin.</summary>
    private List<Dispatch<TWorker>> AssignOrphans(TimeSpan now)
    {
        List<PendingNode> orphans = _pending.Values.Where(p => p.Assignees.Count == 0).OrderBy(p => p.Node.Start).ToList();
        IReadOnlyList<TWorker> workers = Available();
        if (orphans.Count == 0 || workers.Count == 0)
        {
            return [];
        }

        List<TWorker> byLoad = workers.OrderBy(Load).ToList();
        var batches = new Dictionary<TWorker, List<TreeNode>>();
        for (int i = 0; i < orphans.Count; i++)
        {
            TWorker w = byLoad[i % byLoad.Count];
            (batches.TryGetValue(w, out var list) ? list : batches[w] = new List<TreeNode>()).Add(orphans[i].Node);
            orphans[i].Assignees.Add(w);
            orphans[i].Since = now;
        }

        return byLoad.Where(batches.ContainsKey).Select(w => new Dispatch<TWorker>(w, batches[w], DispatchReason.Orphaned)).ToList();
    }

    private sealed class PendingNode(TreeNode node, TimeSpan since, List<TWorker> assignees)
    {
        public TreeNode Node { get; } = node;

        public List<TWorker> Assignees { get; } = assignees;

        public TimeSpan Since { get; set; } = since;
    }
}

using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Runs.Steps;

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

    /// <summary>Computed a second time on another worker to be compared bit for bit (--verify), or a third time to settle a disagreement.</summary>
    Verify,

    /// <summary>Its result from another worker was refused (wrong length, not finite): computed again elsewhere.</summary>
    Recompute,
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

    /// <summary>From a worker that was not given the node (or no longer is): it does not count.</summary>
    Unassigned,

    /// <summary>A node computed more than once to be compared: this answer is kept, and the node waits for agreement.</summary>
    Held,
}

/// <summary>
/// Who computes what in a step, as a pure state machine with no actors and no clock of its own (times are
/// passed in): it splits a step's micro-shards into aligned tree nodes among the workers in proportion
/// to their threads (<see cref="WorkPlanner"/>), moves a lost worker's nodes to others in the same step,
/// gives a node past its deadline to one more worker (the first answer wins: both are equal) and keeps
/// that late worker out of new work until it answers again, and tells which results count: only from a
/// worker that was given the node. A result that fails its checks is <see cref="Refuse">refused</see> and
/// its node goes to another worker. A node chosen for verification is sent to two workers and counts
/// when two of them agree bit for bit (each answer comes with a digest); a disagreement sends it to a
/// third, and the ones outvoted are named. Workers are used in the order of <paramref name="order"/>, so
/// the same membership always gives the same plan.
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
    public IReadOnlyList<Dispatch<TWorker>> Begin(long step, int microShards, TimeSpan now) => Begin(step, microShards, now, _ => false);

    /// <summary>
    /// As <see cref="Begin(long, int, TimeSpan)"/>, and every node for which <paramref name="verify"/> holds
    /// is also sent to a second worker (the least busy other one; none with a single worker).
    /// </summary>
    public IReadOnlyList<Dispatch<TWorker>> Begin(long step, int microShards, TimeSpan now, Func<TreeNode, bool> verify)
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
        var dispatches = new List<Dispatch<TWorker>>(Plan(microShards));
        foreach (Dispatch<TWorker> d in dispatches)
        {
            foreach (TreeNode node in d.Nodes)
            {
                _pending[node.Start] = new PendingNode(node, now, [d.Worker]);
            }
        }

        var checks = new Dictionary<TWorker, List<TreeNode>>();
        foreach (PendingNode p in _pending.Values.Where(p => verify(p.Node)).OrderBy(p => p.Node.Start))
        {
            p.Required = 2;
            if (workers.Where(w => !p.Assignees.Contains(w)).OrderBy(Load).FirstOrDefault() is { } second)
            {
                p.Assign(second);
                (checks.TryGetValue(second, out var list) ? list : checks[second] = new List<TreeNode>()).Add(p.Node);
            }
        }

        dispatches.AddRange(workers.Where(checks.ContainsKey).Select(w => new Dispatch<TWorker>(w, checks[w], DispatchReason.Verify)));
        return dispatches;
    }

    /// <summary>
    /// The plan <see cref="Begin(long, int, TimeSpan)"/> would give a step of <paramref name="microShards"/> now, changing
    /// nothing: a step planned ahead (sent before the one in flight is in) is begun with it if it still holds.
    /// </summary>
    public IReadOnlyList<Dispatch<TWorker>> Plan(int microShards)
    {
        IReadOnlyList<TWorker> workers = Available();
        return WorkPlanner.Split(microShards, workers.Select(w => _threads[w]).ToList())
            .Select(r => new Dispatch<TWorker>(workers[r.Worker], WorkPlanner.Decompose(r.First, r.Count, microShards), DispatchReason.Plan))
            .ToList();
    }

    /// <summary>A result of <paramref name="node"/> for <paramref name="step"/> from <paramref name="worker"/>: does it count?</summary>
    public ResultOutcome Accept(TWorker worker, long step, TreeNode node, TimeSpan now) => Accept(worker, step, node, now, 0, out _, out _);

    /// <summary>
    /// As <see cref="Accept(TWorker, long, TreeNode, TimeSpan)"/> for a result whose bits hash to
    /// <paramref name="digest"/>. A node that needs agreement is <see cref="ResultOutcome.Held"/> until two
    /// answers agree; then it is accepted with <paramref name="agreed"/> the digest that counts and
    /// <paramref name="outvoted"/> the workers whose answers differed. A disagreement with nobody left to
    /// settle it sends the node to another worker (<see cref="Reassign"/>).
    /// </summary>
    public ResultOutcome Accept(TWorker worker, long step, TreeNode node, TimeSpan now, ulong digest, out ulong agreed, out IReadOnlyList<TWorker> outvoted)
    {
        agreed = digest;
        outvoted = [];

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

        // a worker lost or passed over after it was given the node still counts (its answer is as good); one never given it, or refused, does not
        if (!pending.Given.Contains(worker) || pending.Refused.Contains(worker) || pending.Votes.ContainsKey(worker))
        {
            return ResultOutcome.Unassigned;
        }

        pending.Assignees.Remove(worker);
        pending.Votes[worker] = digest;
        IGrouping<ulong, TWorker> best = pending.Votes.GroupBy(v => v.Value, v => v.Key).OrderByDescending(g => g.Count()).First();
        if (best.Count() < pending.Required)
        {
            // waiting for the other assignee, or (a disagreement, nobody left computing it) for one more worker
            return ResultOutcome.Held;
        }

        agreed = best.Key;
        outvoted = pending.Votes.Where(v => v.Value != best.Key).Select(v => v.Key).Order(order).ToList();
        _pending.Remove(node.Start);
        TimeSpan took = now - pending.Since;
        if (took > _slowestDone)
        {
            _slowestDone = took;
        }

        return ResultOutcome.Accepted;
    }

    /// <summary>
    /// The result of <paramref name="node"/> from <paramref name="worker"/> failed its checks (length, not
    /// finite): it does not count, the node is never given to that worker again in this step, and it goes
    /// to another one.
    /// </summary>
    public IReadOnlyList<Dispatch<TWorker>> Refuse(TWorker worker, long step, TreeNode node, TimeSpan now)
    {
        if (Step == step && _pending.TryGetValue(node.Start, out PendingNode? pending) && pending.Node == node)
        {
            pending.Assignees.Remove(worker);
            pending.Refused.Add(worker);
        }

        return AssignOrphans(now, DispatchReason.Recompute);
    }

    /// <summary>Nodes nobody computes now (a disagreement to settle, a refused result) go to workers that have not answered them.</summary>
    public IReadOnlyList<Dispatch<TWorker>> Reassign(TimeSpan now) => AssignOrphans(now, DispatchReason.Verify);

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
            TWorker? other = Available().Where(w => !p.Assignees.Contains(w) && p.MayCompute(w)).OrderBy(Load).FirstOrDefault();
            if (other is not null)
            {
                _suspects.UnionWith(p.Assignees);
                p.Assign(other);
                p.Since = now;
                dispatches.Add(new Dispatch<TWorker>(other, [p.Node], DispatchReason.Speculative));
            }
        }

        return dispatches;
    }

    /// <summary>The step's nodes that wait for a worker.</summary>
    public int Orphans => _pending.Values.Count(p => p.Assignees.Count == 0);

    private int Load(TWorker worker) => _pending.Values.Count(p => p.Assignees.Contains(worker));

    /// <summary>
    /// Every pending node that nobody computes goes to the least busy workers, one each, round robin; never
    /// to a worker that already answered it or whose answer was refused (such a node waits for another).
    /// </summary>
    private List<Dispatch<TWorker>> AssignOrphans(TimeSpan now, DispatchReason reason = DispatchReason.Orphaned)
    {
        List<PendingNode> orphans = _pending.Values.Where(p => p.Assignees.Count == 0).OrderBy(p => p.Node.Start).ToList();
        IReadOnlyList<TWorker> workers = Available();
        if (orphans.Count == 0 || workers.Count == 0)
        {
            return [];
        }

        List<TWorker> byLoad = workers.OrderBy(Load).ToList();
        var batches = new Dictionary<TWorker, List<TreeNode>>();
        int next = 0;
        foreach (PendingNode orphan in orphans)
        {
            for (int tried = 0; tried < byLoad.Count; tried++)
            {
                TWorker w = byLoad[(next + tried) % byLoad.Count];
                if (orphan.MayCompute(w))
                {
                    (batches.TryGetValue(w, out var list) ? list : batches[w] = new List<TreeNode>()).Add(orphan.Node);
                    orphan.Assign(w);
                    orphan.Since = now;
                    next = (next + tried + 1) % byLoad.Count;
                    break;
                }
            }
        }

        return byLoad.Where(batches.ContainsKey).Select(w => new Dispatch<TWorker>(w, batches[w], reason)).ToList();
    }

    private sealed class PendingNode(TreeNode node, TimeSpan since, List<TWorker> assignees)
    {
        public TreeNode Node { get; } = node;

        /// <summary>Who computes it now.</summary>
        public List<TWorker> Assignees { get; } = assignees;

        /// <summary>Everyone it was ever sent to in this step: only their answers count.</summary>
        public HashSet<TWorker> Given { get; } = new(assignees);

        public TimeSpan Since { get; set; } = since;

        public void Assign(TWorker worker)
        {
            Assignees.Add(worker);
            Given.Add(worker);
        }

        /// <summary>Agreeing answers it needs: 1, or 2 for a node being verified.</summary>
        public int Required { get; set; } = 1;

        /// <summary>The digest of each worker's answer so far (for a node being verified).</summary>
        public Dictionary<TWorker, ulong> Votes { get; } = new();

        /// <summary>Workers whose answer failed its checks.</summary>
        public HashSet<TWorker> Refused { get; } = new();

        public bool MayCompute(TWorker worker) => !Votes.ContainsKey(worker) && !Refused.Contains(worker);
    }
}

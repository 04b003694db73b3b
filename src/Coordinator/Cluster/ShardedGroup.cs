using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Cluster;

/// <summary>
/// The coordinator's view of a sharded run's replicas (DESIGN §5): the members, whose replicas are at the
/// run's step, and the workers waiting for a replica (joined, or out of step) — they become members at a
/// step boundary, once the coordinator holds the state to send them. Every change of membership starts a
/// new generation: its plan orders the members, member k owns parameter slice k. Pure state, no actors.
/// </summary>
public sealed class ShardedGroup<TWorker>(IComparer<TWorker> order)
    where TWorker : notnull
{
    private readonly Dictionary<TWorker, (int Threads, string Endpoint)> _members = new();
    private readonly Dictionary<TWorker, (int Threads, string Endpoint)> _waiting = new();

    /// <summary>Grows with every plan that follows a change of membership (and with every step run again).</summary>
    public int Generation { get; private set; }

    /// <summary>Members in slice order.</summary>
    public IReadOnlyList<TWorker> Members => _members.Keys.Order(order).ToList();

    public string EndpointOf(TWorker member) => _members[member].Endpoint;

    public IReadOnlyDictionary<TWorker, (int Threads, string Endpoint)> Waiting => _waiting;

    public bool IsMember(TWorker worker) => _members.ContainsKey(worker);

    /// <summary>A worker with a data plane: it waits for a replica.</summary>
    public void Join(TWorker worker, int threads, string endpoint)
    {
        if (!_members.ContainsKey(worker))
        {
            _waiting[worker] = (threads, endpoint);
        }
    }

    /// <summary>The worker got the run's state: a member from the next plan on.</summary>
    public void Admit(TWorker worker)
    {
        if (_waiting.Remove(worker, out var w))
        {
            _members[worker] = w;
        }
    }

    /// <summary>A member's replica is not at the run's step (it says so): it waits for a new state.</summary>
    public bool OutOfStep(TWorker worker)
    {
        if (_members.Remove(worker, out var member))
        {
            _waiting[worker] = member;
            return true;
        }

        return false;
    }

    /// <summary>The worker is gone (or cannot take part); true when it was a member.</summary>
    public bool Remove(TWorker worker)
    {
        _waiting.Remove(worker);
        return _members.Remove(worker);
    }

    /// <summary>The generation of the next plan.</summary>
    public int NextGeneration() => ++Generation;
}

/// <summary>
/// One step of a sharded run in flight on the coordinator: which members must report it committed, what
/// they reported, and the state captured for a snapshot, test metrics or a join.
/// </summary>
public sealed class ShardedStepProgress<TWorker>(int generation, IReadOnlyList<TWorker> members, bool capture)
    where TWorker : notnull
{
    private readonly Dictionary<TWorker, StepDone> _done = new();
    private readonly Dictionary<int, List<TWorker>> _assigned = new();

    public int Generation { get; } = generation;

    public IReadOnlyList<TWorker> Members { get; } = members;

    /// <summary>Member 0 sends its state after the step (<see cref="StepPlan.Capture"/>).</summary>
    public bool Capture { get; } = capture;

    public ReplicaState? Captured { get; set; }

    /// <summary>The members' data-plane endpoints, in member order.</summary>
    public required string[] Endpoints { get; init; }

    /// <summary>Every tree node of the step, in order.</summary>
    public required TreeNode[] Nodes { get; init; }

    /// <summary>When the last node was reported computed (the exchange's deadline counts from it).</summary>
    public TimeSpan? AllNodesAt { get; set; }

    public IReadOnlyDictionary<TWorker, StepDone> Done => _done;

    /// <summary>Records a member's report; false for a worker outside the step or a second report.</summary>
    /// <summary>Node <paramref name="nodes"/> were sent to <paramref name="worker"/> (its plan, or a late node's second copy).</summary>
    public void Assign(TWorker worker, IEnumerable<TreeNode> nodes)
    {
        foreach (TreeNode node in nodes)
        {
            (_assigned.TryGetValue(node.Start, out var list) ? list : _assigned[node.Start] = new List<TWorker>()).Add(worker);
        }
    }

    /// <summary>Who was sent <paramref name="node"/> in this generation.</summary>
    public IReadOnlyList<TWorker> AssignedTo(TreeNode node) => _assigned.TryGetValue(node.Start, out var list) ? list : [];

    public bool Add(TWorker worker, StepDone done) => Members.Contains(worker) && _done.TryAdd(worker, done);

    /// <summary>True once every member reported and the capture (if asked) is in.</summary>
    public bool Complete => _done.Count == Members.Count && (!Capture || Captured is not null);

    /// <summary>
    /// The step's hash (from its hasher, member <paramref name="hasher"/>) and loss sum once complete.
    /// Replicas whose checksums or losses differ would be a faulty machine (the sums are exact): the error
    /// names the members and what they reported.
    /// </summary>
    public (string Hash, double LossSum, string? Disagreement) Outcome(int hasher)
    {
        StepDone first = _done[Members[0]];
        List<TWorker> differing = Members.Where(m => _done[m].Checksum != first.Checksum || !_done[m].LossSum.Equals(first.LossSum)).ToList();
        string? disagreement = differing.Count == 0 ? null
            : $"replicas disagree after step {first.Step}: {Members[0]} has checksum {first.Checksum:x16}, " + string.Join(", ", differing.Select(m => $"{m} has {_done[m].Checksum:x16}"));
        string hash = _done[Members[hasher]].ParamSha256;
        if (disagreement is null && hash.Length != 64)
        {
            disagreement = $"the step's hasher {Members[hasher]} sent no parameter hash after step {first.Step}";
        }

        return (hash, first.LossSum, disagreement);
    }
}

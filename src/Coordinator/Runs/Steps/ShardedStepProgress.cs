using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Runs.Steps;

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

    /// <summary>What a checked step's coordinator agrees on (with --verify, when nodes are computed twice); null on other steps.</summary>
    public StepChecks<TWorker>? Checks { get; set; }

    /// <summary>When the last node was reported computed (the exchange's deadline counts from it).</summary>
    public TimeSpan? AllNodesAt { get; set; }

    public IReadOnlyDictionary<TWorker, StepDone> Done => _done;

    /// <summary>Node <paramref name="nodes"/> were sent to <paramref name="worker"/> (its plan, or a late node's second copy).</summary>
    public void Assign(TWorker worker, IEnumerable<TreeNode> nodes)
    {
        foreach (TreeNode node in nodes)
        {
            (_assigned.TryGetValue(node.Start, out var list) ? list : _assigned[node.Start] = new List<TWorker>()).Add(worker);
        }
    }

    /// <summary>For each of <see cref="Nodes"/>, the members (by index) sent it so far: what a plan's <see cref="StepPlan.Computers"/> says.</summary>
    public int[][] Computers()
    {
        var index = new Dictionary<TWorker, int>();
        for (int k = 0; k < Members.Count; k++)
        {
            index[Members[k]] = k;
        }

        return Nodes.Select(n => AssignedTo(n).Where(index.ContainsKey).Select(w => index[w]).Distinct().ToArray()).ToArray();
    }

    /// <summary>Who was sent <paramref name="node"/> in this generation.</summary>
    public IReadOnlyList<TWorker> AssignedTo(TreeNode node) => _assigned.TryGetValue(node.Start, out var list) ? list : [];

    /// <summary>Records a member's report; false for a worker outside the step or a second report.</summary>
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
            : $"replicas disagree after step {first.Ref.Step}: {Members[0]} has checksum {first.Checksum:x16}, " + string.Join(", ", differing.Select(m => $"{m} has {_done[m].Checksum:x16}"));
        string hash = _done[Members[hasher]].ParamSha256;
        if (disagreement is null && hash.Length != 64)
        {
            disagreement = $"the step's hasher {Members[hasher]} sent no parameter hash after step {first.Ref.Step}";
        }

        if (disagreement is null && Capture && Members.Any(m => _done[m].StateSha256 != first.StateSha256 || first.StateSha256.Length != 64))
        {
            disagreement = $"replicas report different states after step {first.Ref.Step}: " + string.Join(", ", Members.Select(m => $"{m} has {Short(_done[m].StateSha256)}"));
        }

        return (hash, first.LossSum, disagreement);
    }

    /// <summary>
    /// Why the state a member sent (<see cref="Captured"/>) is not the one every replica reported holding (the
    /// SHA-256 of its parameters and velocity), or null when it is. Called once the step is complete and agreed.
    /// </summary>
    public string? StateProblem(ReplicaState state)
    {
        string agreed = _done[Members[0]].StateSha256;
        string sent = Engine.Training.ParameterHash.OfState(state.Parameters, state.Velocity);
        return sent == agreed ? null : $"its SHA-256 is {Short(sent)}, and every replica reported {Short(agreed)}";
    }

    private static string Short(string digest) => digest.Length >= 12 ? digest[..12] + "…" : $"'{digest}'";
}

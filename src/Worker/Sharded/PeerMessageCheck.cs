using CnnCluster.Shared.Protocol;

namespace CnnCluster.Worker.Sharded;

/// <summary>
/// The shape of a sharded-run message that came over the data plane, checked before anything uses it: a
/// missing array, an empty or oversized member list, a member index or slice out of range. Whoever sent it,
/// a malformed message is refused in words (<see cref="ReplicaHost"/> logs and counts it), never thrown inside
/// the worker's actor, whose restart would lose every replica it holds. What a well-formed message may do
/// (who may send it, whether its values are right) is the replica's and the coordinator's to check. Pure.
/// </summary>
public static class PeerMessageCheck
{
    /// <summary>More members than any cluster here has; a plan naming more is not one of ours.</summary>
    public const int MaxMembers = 4096;

    /// <summary>Why <paramref name="message"/> is malformed, or null when its shape is sound.</summary>
    public static string? Problem(IProtocolMessage message) => message switch
    {
        ReplicaInit i when string.IsNullOrEmpty(i.RunId) => "a replica's state without a run id",
        ReplicaInit i when i.Config is null || i.DataFingerprint is null => $"run {i.RunId}: a replica's state without its configuration or data fingerprint",
        ReplicaInit i when i.Step < 0 => $"run {i.RunId}: a replica's state at step {i.Step}",
        ReplicaInit i when i.Parameters is null || i.Velocity is null || i.Velocity.Length != i.Parameters.Length =>
            $"run {i.RunId}: a replica's state with {i.Parameters?.Length ?? 0} parameters and {i.Velocity?.Length ?? 0} velocities",
        StepPlan p when RefProblem(p.Ref) is { } problem => problem,
        StepPlan p when p.Members is null || p.Members.Length is 0 or > MaxMembers => $"run {p.Ref.RunId} step {p.Ref.Step}: a plan with {p.Members?.Length ?? 0} members (1 to {MaxMembers})",
        StepPlan p when p.Members.Any(string.IsNullOrEmpty) => $"run {p.Ref.RunId} step {p.Ref.Step}: a plan with a member without an endpoint",
        StepPlan p when p.Me < 0 || p.Me >= p.Members.Length => $"run {p.Ref.RunId} step {p.Ref.Step}: a plan for member {p.Me} of {p.Members.Length}",
        StepPlan p when p.Nodes is null || p.Mine is null => $"run {p.Ref.RunId} step {p.Ref.Step}: a plan without its nodes",
        StepPlan p when p.Computers is null || p.Computers.Length != p.Nodes.Length || p.Computers.Any(c => c is null || c.Any(m => m < 0 || m >= p.Members.Length)) =>
            $"run {p.Ref.RunId} step {p.Ref.Step}: a plan that does not name a member of its own for each node's computers",
        PartsAgreed a when RefProblem(a.Ref) is { } problem => problem,
        PartsAgreed a when a.Nodes is null || a.Digests is null || a.Digests.Length != a.Nodes.Length || a.Digests.Any(d => d is null) =>
            $"run {a.Ref.RunId} step {a.Ref.Step}: agreed parts without a digest for each node",
        SumsAgreed a when RefProblem(a.Ref) is { } problem => problem,
        SumsAgreed a when a.Digests is null => $"run {a.Ref.RunId} step {a.Ref.Step}: agreed sums without digests",
        PartsRequest r when RefProblem(r.Ref) is { } problem => problem,
        SlicePart s when RefProblem(s.Ref) is { } problem => problem,
        SlicePart s when s.Slice is < 0 or >= MaxMembers => $"run {s.Ref.RunId} step {s.Ref.Step}: a part of slice {s.Slice}",
        SliceSum s when RefProblem(s.Ref) is { } problem => problem,
        SliceSum s when s.Slice is < 0 or >= MaxMembers => $"run {s.Ref.RunId} step {s.Ref.Step}: the sum of slice {s.Slice}",
        SliceSum s when s.Values is null => $"run {s.Ref.RunId} step {s.Ref.Step}: the sum of slice {s.Slice} without values",
        _ => null,
    };

    private static string? RefProblem(StepRef key) =>
        string.IsNullOrEmpty(key.RunId) ? "a step message without a run id"
        : key.Step < 1 || key.Generation < 0 ? $"run {key.RunId}: a step message for step {key.Step} of generation {key.Generation}"
        : null;
}

using System.IO.Hashing;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.Protocol;
using CnnCluster.Worker.Sharded;

namespace CnnCluster.Coordinator.Runs.Steps;

/// <summary>What the coordinator makes of a sum's report on a checked step.</summary>
public enum SumOutcome
{
    /// <summary>Waiting for the slice's other summer.</summary>
    Pending,

    /// <summary>Every slice's owner and checker reported the same sum: <see cref="StepChecks{TWorker}.AgreedSums"/> goes to the members.</summary>
    AllAgreed,

    /// <summary>A slice's owner and checker reported different sums: the coordinator asks both for the parts.</summary>
    Disputed,

    /// <summary>A report nobody asked for (not the slice's owner or checker, a malformed digest, a second one).</summary>
    Refused,
}

/// <summary>
/// The coordinator's side of one checked step of a sharded run (<see cref="StepPlan.Checked"/>, DESIGN §5): each
/// computer's claim of its node's part digests (one per slice), the claims agreed (two computers of a verified node
/// voted by the scheduler, as the star votes on results), each slice's sum as its owner and its checker report it,
/// and the settling of a dispute between them from the parts themselves, which the agreed digests authenticate: the
/// coordinator sums them in the tree's order, as every replica does, and whoever reported another sum is wrong. Pure.
/// </summary>
public sealed class StepChecks<TWorker>(IReadOnlyList<TWorker> members, TreeNode[] nodes, ParameterSlice[] slices)
    where TWorker : notnull
{
    private const int DigestBytes = ParameterHash.SliceDigestBytes;
    private readonly Dictionary<(TreeNode Node, TWorker Worker), (byte[] Digests, ulong Vote)> _claims = new();
    private readonly Dictionary<TreeNode, byte[]> _agreed = new();
    private readonly Dictionary<(int Slice, TWorker Worker), byte[]> _sums = new();
    private readonly HashSet<int> _disputed = new();

    /// <summary>
    /// A computer's digests of its node's parts: the vote the scheduler compares between computers (a 64-bit hash of
    /// them), or null when they are not one digest per slice.
    /// </summary>
    public ulong? Claim(TWorker worker, TreeNode node, byte[]? digests)
    {
        if (digests is null || digests.Length != DigestBytes * slices.Length)
        {
            return null;
        }

        ulong vote = XxHash3.HashToUInt64(digests);
        _claims[(node, worker)] = (digests, vote);
        return vote;
    }

    /// <summary>
    /// True when every member has computed <paramref name="node"/> and no two agree: nobody of this generation is
    /// left to settle it (two members that disagree, or three that all differ).
    /// </summary>
    public bool Unsettled(TreeNode node)
    {
        ulong[] votes = _claims.Where(c => c.Key.Node == node).Select(c => c.Value.Vote).ToArray();
        return votes.Length == members.Count && votes.Distinct().Count() == votes.Length;
    }

    /// <summary>The scheduler agreed on <paramref name="node"/> with vote <paramref name="vote"/>: the digests that count.</summary>
    public void Agree(TreeNode node, ulong vote) =>
        _agreed[node] = _claims.First(c => c.Key.Node == node && c.Value.Vote == vote).Value.Digests;

    public PartsAgreed AgreedParts(StepRef step) => new(step, nodes, nodes.Select(n => _agreed[n]).ToArray());

    /// <summary>A sum's report from <paramref name="worker"/>: taken from the slice's owner or checker, once each.</summary>
    public SumOutcome Report(TWorker worker, SumReport report)
    {
        int k = report.Slice;
        if (k < 0 || k >= slices.Length || report.Digest is not { Length: DigestBytes } || !IsSummer(k, worker) || !_sums.TryAdd((k, worker), report.Digest))
        {
            return SumOutcome.Refused;
        }

        if (Other(k, worker) is not { } other)
        {
            return SumOutcome.Pending;
        }

        if (!other.AsSpan().SequenceEqual(report.Digest))
        {
            _disputed.Add(k);
            return SumOutcome.Disputed;
        }

        return Enumerable.Range(0, slices.Length).All(s => Agreed(s) is not null) ? SumOutcome.AllAgreed : SumOutcome.Pending;
    }

    public SumsAgreed AgreedSums(StepRef step) => new(step, Enumerable.Range(0, slices.Length).SelectMany(k => Agreed(k)!).ToArray());

    /// <summary>The owner and the checker of slice <paramref name="slice"/>.</summary>
    public (TWorker Owner, TWorker Checker) SummersOf(int slice) => (members[slice], members[StepPlan.CheckerOf(slice, members.Count)]);

    /// <summary>
    /// The parts of a disputed slice from its owner or checker: when each is the part agreed on, the coordinator's own
    /// sum of them says who reported a wrong sum (<paramref name="wrong"/>, possibly both); a reply with a part that is
    /// not the agreed one is its sender's fault. Null when the reply settles nothing (not a dispute, not a summer of it).
    /// </summary>
    public string? Settle(TWorker sender, PartsReply reply, out IReadOnlyList<TWorker> wrong)
    {
        wrong = [];
        int k = reply.Slice;
        if (!_disputed.Contains(k) || !IsSummer(k, sender))
        {
            return null;
        }

        if (reply.Parts is null || reply.Parts.Length != nodes.Length)
        {
            wrong = [sender];
            return $"it sent {reply.Parts?.Length ?? 0} parts of slice {k} to settle its sum, the step has {nodes.Length} nodes";
        }

        var reduction = new SliceReduction(nodes, slices[k].Count);
        foreach (SlicePart part in reply.Parts)
        {
            if (part?.Values is null || part.Slice != k || !_agreed.TryGetValue(part.Node, out byte[]? digests)
                || part.Values.Length != slices[k].Count || !digests.AsSpan(k * DigestBytes, DigestBytes).SequenceEqual(ParameterHash.OfSlice(part.Values, part.LossSum)))
            {
                reduction.Abandon();
                wrong = [sender];
                return $"a part of slice {k} it sent to settle its sum is not the one agreed on";
            }

            reduction.Add(part.Node, part.Values, part.LossSum);
        }

        (float[] sum, double loss) = reduction.Finish();
        byte[] truth = ParameterHash.OfSlice(sum, loss);
        GradientBuffers.Shared(sum.Length).Return(sum);
        _disputed.Remove(k);
        (TWorker owner, TWorker checker) = SummersOf(k);
        wrong = new[] { owner, checker }.Where(w => !_sums[(k, w)].AsSpan().SequenceEqual(truth)).ToList();
        return $"it reported a sum of slice {k} that is not the sum of the agreed parts";
    }

    private bool IsSummer(int slice, TWorker worker) => members[slice].Equals(worker) || members[StepPlan.CheckerOf(slice, members.Count)].Equals(worker);

    private byte[]? Other(int slice, TWorker worker)
    {
        (TWorker owner, TWorker checker) = SummersOf(slice);
        return _sums.GetValueOrDefault((slice, owner.Equals(worker) ? checker : owner));
    }

    private byte[]? Agreed(int slice)
    {
        (TWorker owner, TWorker checker) = SummersOf(slice);
        return _sums.TryGetValue((slice, owner), out byte[]? a) && _sums.TryGetValue((slice, checker), out byte[]? b) && a.AsSpan().SequenceEqual(b) ? a : null;
    }
}

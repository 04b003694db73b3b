using CnnCluster.Engine.Models;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Worker.Sharded;

/// <summary>
/// A replica's share of a checked step (<see cref="StepPlan.Checked"/>, DESIGN §5): besides its own slice it sums
/// the previous member's (<see cref="CheckedSlice"/>, as that slice's checker); it takes a part of either only once the
/// coordinator agreed on its SHA-256 (<see cref="PartsAgreed"/>), keeps what it summed for the coordinator to settle a
/// dispute, and commits with the copies of each slice's sum (the owner's or the checker's) whose SHA-256 the
/// coordinator agreed on (<see cref="SumsAgreed"/>). Used by one <see cref="ShardedReplica"/> on its actor's thread.
/// </summary>
public sealed class StepCheck
{
    private const int DigestBytes = ParameterHash.SliceDigestBytes;
    private readonly int _members;
    private readonly Dictionary<int, List<SlicePart>> _kept = new();
    private readonly List<(float[] Values, double Loss, byte[] Digest)>[] _candidates;
    private Dictionary<TreeNode, byte[]>? _agreed;
    private byte[]? _agreedSums;

    public StepCheck(StepPlan plan, ParameterSlice[] slices)
    {
        _members = plan.Members.Length;
        Me = plan.Me;
        CheckedSlice = (plan.Me - 1 + _members) % _members; // StepPlan.CheckerOf(CheckedSlice) == Me
        Checked = new SliceReduction(plan.Nodes, slices[CheckedSlice].Count);
        _candidates = Enumerable.Range(0, _members).Select(_ => new List<(float[], double, byte[])>()).ToArray();
    }

    public int Me { get; }

    /// <summary>The slice this replica checks: the previous member's.</summary>
    public int CheckedSlice { get; }

    /// <summary>The checker's own sum of <see cref="CheckedSlice"/>.</summary>
    public SliceReduction Checked { get; }

    /// <summary>Parts that came before the coordinator agreed on the parts' digests, with their senders.</summary>
    public List<(SlicePart Part, string From)> Pending { get; } = new();

    public bool PartsKnown => _agreed is not null;

    /// <summary>True for a slice this replica sums: its own, and the one it checks.</summary>
    public bool Sums(int slice) => slice == Me || slice == CheckedSlice;

    /// <summary>The members allowed to send slice <paramref name="slice"/>'s sum: its owner, and its checker.</summary>
    public bool MaySendSum(int slice, int member) => member == slice || member == StepPlan.CheckerOf(slice, _members);

    /// <summary>The parts' digests are agreed: the parts that waited for them, in arrival order.</summary>
    public IReadOnlyList<(SlicePart Part, string From)> AgreeParts(PartsAgreed agreed)
    {
        _agreed = new Dictionary<TreeNode, byte[]>();
        for (int i = 0; i < agreed.Nodes.Length; i++)
        {
            _agreed[agreed.Nodes[i]] = agreed.Digests[i];
        }

        List<(SlicePart, string)> waiting = [.. Pending];
        Pending.Clear();
        return waiting;
    }

    /// <summary>Why <paramref name="part"/> is not the part agreed on, or null when it is.</summary>
    public string? PartProblem(SlicePart part)
    {
        if (!_agreed!.TryGetValue(part.Node, out byte[]? digests) || digests.Length != DigestBytes * _members)
        {
            return $"node {part.Node} has no agreed digest";
        }

        if (part.Values is null || !double.IsFinite(part.LossSum))
        {
            return "its part has no values or a loss that is not finite";
        }

        byte[] digest = ParameterHash.OfSlice(part.Values, part.LossSum);
        ReadOnlySpan<byte> expected = digests.AsSpan(part.Slice * DigestBytes, DigestBytes);
        return expected.SequenceEqual(digest) ? null
            : $"its SHA-256 is {Convert.ToHexStringLower(digest)[..12]}…, the one agreed {Convert.ToHexStringLower(expected)[..12]}…";
    }

    /// <summary>A copy of a part summed here, for the coordinator to settle a dispute with.</summary>
    public void Keep(SlicePart part) =>
        (_kept.TryGetValue(part.Slice, out var list) ? list : _kept[part.Slice] = []).Add(part with { Values = (float[])part.Values.Clone() });

    /// <summary>The parts of <paramref name="slice"/> summed here.</summary>
    public SlicePart[] Kept(int slice) => _kept.TryGetValue(slice, out var list) ? [.. list] : [];

    /// <summary>A copy of a slice's sum (from its owner or its checker, or made here).</summary>
    public void AddCandidate(int slice, float[] values, double loss) => _candidates[slice].Add((values, loss, ParameterHash.OfSlice(values, loss)));

    public void AgreeSums(SumsAgreed agreed) => _agreedSums = agreed.Digests;

    /// <summary>
    /// Once the sums are agreed and a matching copy of each is in: every slice's sum and the batch's loss (the
    /// other copies go back to their pool); else false.
    /// </summary>
    public bool TryChoose(out float[][] sums, out double loss)
    {
        sums = [];
        loss = 0;
        if (_agreedSums is not { } agreed || agreed.Length != DigestBytes * _members)
        {
            return false;
        }

        var chosen = new (float[] Values, double Loss)[_members];
        for (int k = 0; k < _members; k++)
        {
            byte[] expected = agreed[(k * DigestBytes)..((k + 1) * DigestBytes)];
            int match = _candidates[k].FindIndex(c => expected.AsSpan().SequenceEqual(c.Digest));
            if (match < 0)
            {
                return false;
            }

            chosen[k] = (_candidates[k][match].Values, _candidates[k][match].Loss);
        }

        foreach ((float[] values, double _, byte[] _) in _candidates.SelectMany(c => c).Where(c => !chosen.Any(h => ReferenceEquals(h.Values, c.Values))))
        {
            GradientBuffers.Shared(values.Length).Return(values);
        }

        foreach (var candidates in _candidates)
        {
            candidates.Clear(); // the chosen are the commit's now, the others back in their pool
        }

        sums = chosen.Select(c => c.Values).ToArray();
        loss = chosen[0].Loss;
        return true;
    }

    /// <summary>Gives back the buffers of an abandoned step.</summary>
    public void Abandon()
    {
        Checked.Abandon();
        foreach ((float[] values, double _, byte[] _) in _candidates.SelectMany(c => c))
        {
            GradientBuffers.Shared(values.Length).Return(values);
        }
    }
}

using CnnCluster.Shared.Protocol;

namespace CnnCluster.Worker.Sharded;

/// <summary>A replica's all-gather: the slices' sums it takes, and from whom.</summary>
public sealed partial class ShardedReplica
{
    /// <summary>
    /// A slice's sum from member <paramref name="from"/>: taken if it is that member's slice (this replica's own slice it
    /// sums itself: a sum of it from outside is forged), of the slice's length and finite; with every slice in,
    /// the step is committed. What is refused is said (<see cref="IReplicaPorts.Refused"/>) and changes nothing:
    /// the owner's own sum still counts when it comes.
    /// </summary>
    public void OnSum(SliceSum sum, string from) => OnSum(sum, from, early: false);

    /// <summary>A slice's sum; <paramref name="early"/> for one held because it came before its step's plan.</summary>
    private void OnSum(SliceSum sum, string from, bool early)
    {
        StepRef key = sum.Ref;
        if (!Matches(key, sum, from))
        {
            return;
        }

        Exchange exchange = _exchange!;
        if (SumProblem(exchange, sum, from) is { } problem)
        {
            _ports.Refused(sum, $"run {key.RunId} step {key.Step}: the sum of slice {sum.Slice} {problem}{HeldNote(early)}");
            return;
        }

        TakeSum(exchange, sum);
    }

    /// <summary>What a refusal adds for a message held because it came before its step's plan.</summary>
    private static string HeldNote(bool early) => early ? " (it came before the step's plan and was held for it)" : "";

    private static string? SumProblem(Exchange exchange, SliceSum sum, string from) =>
        sum.Slice < 0 || sum.Slice >= exchange.Sums.Length ? $"is of no slice of the step's {exchange.Sums.Length}"
        : SenderProblem(exchange, sum.Slice, from) ?? ValuesProblem(exchange, sum);

    /// <summary>Why <paramref name="from"/> may not send slice <paramref name="slice"/>'s sum: only its owner may (and on a checked step its checker), never from outside to this member for its own.</summary>
    private static string? SenderProblem(Exchange exchange, int slice, string from)
    {
        string[] members = exchange.Plan.Members;
        if (exchange.Check is { } check)
        {
            return check.MaySendSum(slice, Array.IndexOf(members, from)) && from != members[exchange.Plan.Me] ? null
                : $"came from {from}, and only {members[slice]} and its checker sum that slice";
        }

        return slice == exchange.Plan.Me ? $"came from {from}, and that slice is this member's own"
            : from != members[slice] ? $"came from {from}, and that slice is {members[slice]}'s"
            : null;
    }

    private static string? ValuesProblem(Exchange exchange, SliceSum sum) =>
        sum.Values.Length != exchange.Slices[sum.Slice].Count ? $"has {sum.Values.Length} values, the slice has {exchange.Slices[sum.Slice].Count}"
        : !double.IsFinite(sum.LossSum) ? $"has loss {sum.LossSum.ToString(System.Globalization.CultureInfo.InvariantCulture)}"
        : Engine.Kernels.Finite.FirstNotFinite(sum.Values) is int at and >= 0 ? $"holds {sum.Values[at]} at offset {at}"
        : null;

    private void TakeSum(Exchange exchange, SliceSum sum)
    {
        if (exchange.Check is { } check)
        {
            check.AddCandidate(sum.Slice, sum.Values, sum.LossSum);
            TryCommitChecked(exchange, check);
            return;
        }

        if (exchange.Sums[sum.Slice] is not null)
        {
            return; // a second copy (a step's plan sent twice)
        }

        exchange.Sums[sum.Slice] = sum.Values;
        exchange.LossSum = sum.LossSum; // every owner sums the same losses in the same order
        if (exchange.Sums.Any(s => s is null))
        {
            return;
        }

        Commit(exchange);
    }
}

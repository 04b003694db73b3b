using CnnCluster.Engine.Models;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Worker.Sharded;

/// <summary>A replica's share of a checked step (<see cref="StepPlan.Checked"/>, with --verify): see <see cref="StepCheck"/>.</summary>
public sealed partial class ShardedReplica
{
    /// <summary>The SHA-256 of each slice's part of a node, one after another (<see cref="NodeDone.Digests"/>).</summary>
    private static byte[] Digests(ParameterSlice[] slices, float[] gradient, double loss) =>
        slices.SelectMany(slice => ParameterHash.OfSlice(gradient.AsSpan(slice.Start, slice.Count), loss)).ToArray();

    /// <summary>
    /// A part of a slice this replica sums on a checked step: held until its digest is agreed, refused (to the
    /// coordinator, naming its sender) if it is not the part agreed on, else kept for a dispute; true when it goes
    /// on to the owner's reduction (this replica's own slice), false when it was taken here (the slice it checks) or not at all.
    /// </summary>
    private bool CheckedPart(Exchange exchange, StepCheck check, SlicePart part, string from)
    {
        if (!check.PartsKnown)
        {
            check.Pending.Add((part, from));
            return false;
        }

        if (check.PartProblem(part) is { } problem)
        {
            _ports.ToCoordinator(new PartRefused(exchange.Key, part.Node, problem, from));
            return false;
        }

        if (part.Slice == check.Me)
        {
            if (!exchange.Mine.Has(part.Node))
            {
                check.Keep(part);
            }

            return true;
        }

        if (!check.Checked.Has(part.Node))
        {
            check.Keep(part);
        }

        if (check.Checked.Add(part.Node, part.Values, part.LossSum) && check.Checked.Complete)
        {
            (float[] sum, double loss) = check.Checked.Finish();
            TakeSum(exchange, Summed(exchange, check.CheckedSlice, sum, loss));
        }

        return false;
    }

    /// <summary>The coordinator agreed on the digests of a checked step's parts: the parts that waited for it are taken.</summary>
    public void OnPartsAgreed(PartsAgreed agreed)
    {
        if (_exchange is { Committed: false, Check: { } check } exchange && exchange.Key == agreed.Ref && !check.PartsKnown)
        {
            foreach ((SlicePart part, string from) in check.AgreeParts(agreed))
            {
                OnPart(part, from);
            }
        }
    }

    /// <summary>The coordinator agreed on every slice's sum of a checked step: the step commits once a matching copy of each is in.</summary>
    public void OnSumsAgreed(SumsAgreed agreed)
    {
        if (_exchange is { Committed: false, Check: { } check } exchange && exchange.Key == agreed.Ref)
        {
            check.AgreeSums(agreed);
            TryCommitChecked(exchange, check);
        }
    }

    /// <summary>The coordinator settles a dispute over a slice's sum: the parts of it summed here.</summary>
    public void OnPartsRequest(PartsRequest request)
    {
        if (_exchange is { Check: { } check } exchange && exchange.Key == request.Ref && check.Sums(request.Slice))
        {
            _ports.ToCoordinator(new PartsReply(request.Ref, request.Slice, check.Kept(request.Slice)));
        }
    }

    private void TryCommitChecked(Exchange exchange, StepCheck check)
    {
        if (check.TryChoose(out float[][] sums, out double loss))
        {
            for (int k = 0; k < sums.Length; k++)
            {
                exchange.Sums[k] = sums[k];
            }

            exchange.LossSum = loss;
            Commit(exchange);
        }
    }
}

using CnnCluster.Engine.Data;
using CnnCluster.Engine.Layers;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Worker.Sharded;

/// <summary>
/// A worker's replica of one run in the sharded all-reduce (DESIGN §5): the whole parameters and optimizer
/// state (a <see cref="TrainingSession"/>), and per step its part of the exchange. For step t + 1 of a
/// generation it computes its tree nodes and sends each node's slice k to member k (reduce-scatter); as
/// the owner of its own slice it sums every node's part in the tree's order and sends the sum to all
/// (all-gather); with every slice's sum it commits the whole step exactly as the engine alone does,
/// and tells the coordinator the hash of its parameters. The state at the step's start is kept until
/// the next step begins, so a step that a lost member cut short is computed again, by a new generation,
/// from the same start even where this replica had already committed it. Not thread-safe: one actor
/// calls it.
/// </summary>
public sealed partial class ShardedReplica
{
    private readonly TrainingSession _session;
    private readonly IReplicaPorts _ports;
    private readonly StepStarts _starts;
    private readonly EarlySlices _early;
    private Exchange? _exchange;
    private readonly SortedList<long, StepPlan> _ahead = new(); // plans of the steps after the one in flight, by step (StepPlan.PlansAhead)
    private (long Sent, long Received) _trafficAtLastStep;

    public ShardedReplica(ReplicaInit init, Network network, LabeledImages data, IReplicaPorts ports)
    {
        RunId = init.RunId;
        Incarnation = init.Incarnation;
        _ports = ports;
        _session = new TrainingSession(network, init.Config.ToTrainingOptions(1), data, test: null);
        _session.Restore(new SessionState(init.Step, init.Parameters, init.Velocity, 0, 0, 0, 0));
        _starts = new StepStarts(network.ParameterCount, StepPlan.PlansAhead + 1);
        _trafficAtLastStep = ports.StepTraffic;

        // a step's parts of this replica's slice and every slice's sum, for the step in flight and each planned ahead
        _early = new EarlySlices(maxBytes: (8L * network.ParameterCount * (StepPlan.PlansAhead + 1)) + (1 << 20));
    }

    public string RunId { get; }

    public long Incarnation { get; }

    /// <summary>Steps this replica has committed.</summary>
    public long Step => _session.Step;

    public float[] Parameters => _session.Parameters;

    /// <summary>The step in progress (or last begun).</summary>
    public StepRef? Current => _exchange?.Key;

    /// <summary>
    /// A plan: the next step (begun from this replica's state), a later one sent ahead (held until the step before
    /// it is committed), the step just committed again (a new generation after a loss: the replica goes back to the
    /// step's start), or more nodes of the current one. Anything else means this replica is out of step: the
    /// coordinator is told, and sends a new state.
    /// </summary>
    public void OnPlan(StepPlan plan) => OnPlan(plan, held: false);

    /// <summary>A plan; <paramref name="held"/> for one sent ahead and begun now: the plans held after it still hold.</summary>
    private void OnPlan(StepPlan plan, bool held)
    {
        StepRef key = plan.Ref;
        long step = key.Step;
        if (_exchange is { } current && current.Key == key)
        {
            // a late node given to one more member: every owner takes its part too, also one that came before this plan
            current.Computers = ComputersOf(plan);
            Compute(current, plan.Mine);
            foreach ((SlicePart part, string from) in current.TakeUnassigned())
            {
                OnPart(part, from);
            }

            return;
        }

        if (_exchange is { } older && key < older.Key)
        {
            return; // a plan overtaken by a newer one
        }

        if (_exchange is { } inFlight && step > inFlight.Key.Step + (inFlight.Committed ? 1 : 0) && step <= inFlight.Key.Step + StepPlan.PlansAhead)
        {
            // a later step's plan, sent ahead: it begins as soon as the step before it is committed here
            _ahead[step] = plan;
            return;
        }

        if (!held)
        {
            _ahead.Clear(); // a new generation's plan: those held for the steps after the old one no longer hold
        }

        if (_session.Step >= step && _starts.After(step - 1) is { } start)
        {
            // committed here (and the next step perhaps begun), but not by every member: go back to the step's start
            _session.Restore(start);
            _starts.ForgetAfter(start.Step);
        }
        else if (_session.Step != step - 1)
        {
            _ports.ToCoordinator(new WorkFailed(RunId, Incarnation, step, $"{OutOfStep} {_session.Step}, the plan is for step {step}", WorkFailure.OutOfStep));
            return;
        }

        if (_exchange is { } abandoned)
        {
            foreach ((SlicePart part, string from) in abandoned.TakeUnassigned())
            {
                RefuseUnassigned(abandoned, part, from);
            }

            abandoned.Abandon();
        }

        ArraySegment<int> batch = _session.BeginStep();
        ParameterSlice[] slices = ParameterSlice.Partition(_session.Network.ParameterCount, plan.Members.Length);
        var exchange = new Exchange(key, plan, slices, batch, _session.Pass)
        {
            Computers = ComputersOf(plan),
            Check = plan.Checked && plan.Members.Length > 1 ? new StepCheck(plan, slices) : null,
        };
        _exchange = exchange;
        Compute(exchange, plan.Mine);
        // read-only like the compute beside it; done before this actor handles any part or sum of the step
        _starts.Keep(_session.Step, _session.Parameters, _session.Optimizer.Velocity);

        // parts and sums that came before this plan (from faster members); older ones are dropped, later ones wait
        foreach ((ISliceMessage m, string from) in _early.TakeUpTo(key, DateTime.UtcNow))
        {
            if (m.Ref != key)
            {
                continue;
            }

            if (m is SlicePart part)
            {
                OnPart(part, from, early: true);
            }
            else if (m is SliceSum sum)
            {
                OnSum(sum, from, early: true);
            }
        }
    }

    /// <summary>The members (by endpoint) given each node of <paramref name="plan"/>; none when the plan does not say.</summary>
    private static Dictionary<TreeNode, string[]> ComputersOf(StepPlan plan)
    {
        var computers = new Dictionary<TreeNode, string[]>();
        for (int i = 0; plan.Computers is not null && i < plan.Nodes.Length; i++)
        {
            computers[plan.Nodes[i]] = plan.Computers[i].Select(m => plan.Members[m]).ToArray();
        }

        return computers;
    }

    /// <summary>The first words of the failure a replica out of step reports (<see cref="WorkFailure.OutOfStep"/>: the coordinator sends it a new state).</summary>
    public const string OutOfStep = "replica out of step: at step";

    /// <summary>A node computed here: its slices go to their owners (this replica's own directly), the coordinator hears it is done.</summary>
    public void OnNodeComputed(StepRef key, TreeNode node, float[] gradient, double loss, double milliseconds)
    {
        if (_exchange is not { } exchange || exchange.Key != key || exchange.Committed)
        {
            return;
        }

        // first: this replica's own part may complete its slice, and the step, before the loop ends
        StepPlan plan = exchange.Plan;
        _ports.ToCoordinator(new NodeDone(key, node, milliseconds, exchange.Check is null ? null : Digests(exchange.Slices, gradient, loss)));
        for (int k = 0; k < exchange.Slices.Length; k++)
        {
            // to the slice's owner, and on a checked step to its checker too
            int[] receivers = exchange.Check is null ? [k] : [k, StepPlan.CheckerOf(k, plan.Members.Length)];
            ParameterSlice slice = exchange.Slices[k];
            if (receivers.Contains(plan.Me))
            {
                OnPart(new SlicePart(key, node, k, loss, Copy(gradient, slice)), plan.Members[plan.Me]);
            }

            string[] peers = [.. receivers.Where(m => m != plan.Me).Select(m => plan.Members[m])];
            if (peers.Length > 0)
            {
                // pooled: the link gives it back once every copy is encoded
                float[] values = Copy(gradient, slice);
                _ports.ToMembers(peers, new SlicePart(key, node, k, loss, values), values);
            }
        }
    }

    /// <summary>A slice of a node's gradient in a pooled buffer (the reducer or the link gives it back).</summary>
    private static float[] Copy(float[] gradient, ParameterSlice slice)
    {
        float[] values = GradientBuffers.Shared(slice.Count).RentUncleared();
        gradient.AsSpan(slice.Start, slice.Count).CopyTo(values);
        return values;
    }

    /// <summary>
    /// A part of this replica's slice from member <paramref name="from"/> (or itself): reduced in the tree's order
    /// once complete, and the sum goes to all. A part from a member not given its node is refused in words.
    /// </summary>
    public void OnPart(SlicePart part, string from) => OnPart(part, from, early: false);

    /// <summary>A part; <paramref name="early"/> for one held because it came before its step's plan.</summary>
    private void OnPart(SlicePart part, string from, bool early)
    {
        StepRef key = part.Ref;
        if (!Matches(key, part, from))
        {
            return;
        }

        Exchange exchange = _exchange!;
        if (!exchange.Computes(part.Node, from))
        {
            // the plan that gives the node to this member too may still be on its way (a late node's); else refused at the commit
            if (!exchange.HoldUnassigned(part, from))
            {
                RefuseUnassigned(exchange, part, from, early);
            }

            return;
        }

        if (exchange.Check is { } check && check.Sums(part.Slice) && !CheckedPart(exchange, check, part, from))
        {
            return;
        }

        if (part.Slice == exchange.Plan.Me && PartProblem(part, exchange.Slices[part.Slice].Count) is string problem)
        {
            // checked by its owner before it counts: a faulty machine's NaN would reach every replica
            if (part.Values?.Length == exchange.Slices[part.Slice].Count)
            {
                GradientBuffers.Shared(part.Values.Length).Return(part.Values);
            }

            _ports.ToCoordinator(new PartRefused(key, part.Node, problem));
            return;
        }

        if (part.Slice != exchange.Plan.Me || !exchange.Mine.Add(part.Node, part.Values!, part.LossSum) || !exchange.Mine.Complete)
        {
            return;
        }

        (float[] sum, double loss) = exchange.Mine.Finish();
        if (ResultFaults.Sum is { } fault)
        {
            SliceSum broken = fault(new SliceSum(key, exchange.Plan.Me, loss, sum));
            (sum, loss) = (broken.Values, broken.LossSum);
        }

        TakeSum(exchange, Summed(exchange, exchange.Plan.Me, sum, loss));
    }

    /// <summary>
    /// A slice summed here (as its owner, or as its checker): a copy to every other member (the links encode later,
    /// and the commit scales this replica's sum in place), and on a checked step its digest to the coordinator.
    /// </summary>
    private SliceSum Summed(Exchange exchange, int slice, float[] sum, double loss)
    {
        var wire = new SliceSum(exchange.Key, slice, loss, sum);
        if (exchange.Check is not null)
        {
            _ports.ToCoordinator(new SumReport(exchange.Key, slice, ParameterHash.OfSlice(sum, loss)));
        }

        if (exchange.Plan.Members.Length > 1)
        {
            float[] copy = GradientBuffers.Shared(sum.Length).RentUncleared();
            sum.AsSpan().CopyTo(copy);
            _ports.ToMembers(exchange.Plan.Members.Where((_, k) => k != exchange.Plan.Me).ToList(), wire with { Values = copy }, copy);
        }

        return wire;
    }

    /// <summary>Why a part of this replica's slice cannot count (its length, a loss or value not finite), or null.</summary>
    private static string? PartProblem(SlicePart part, int sliceLength)
    {
        if (part.Values is null || part.Values.Length != sliceLength)
        {
            return $"its part of the slice has {part.Values?.Length ?? 0} values, the slice has {sliceLength}";
        }

        if (!double.IsFinite(part.LossSum))
        {
            return $"its loss is {part.LossSum}";
        }

        if (Engine.Kernels.Finite.FirstNotFinite(part.Values) is int at and >= 0)
        {
            return $"its part holds {part.Values[at]} at offset {at}";
        }

        return null;
    }

    private void RefuseUnassigned(Exchange exchange, SlicePart part, string from, bool early = false)
    {
        if (part.Slice == exchange.Plan.Me && part.Values?.Length == exchange.Slices[part.Slice].Count)
        {
            GradientBuffers.Shared(part.Values.Length).Return(part.Values);
        }

        string given = exchange.Computers.TryGetValue(part.Node, out string[]? computers) ? $"given to {string.Join(", ", computers)}" : "not in the step";
        _ports.Refused(part, $"run {exchange.Key.RunId} step {exchange.Key.Step}: a part of node {part.Node} came from {from}, and the node is {given}{HeldNote(early)}");
    }

    /// <summary>True for a message of the current step; one of a step still to come is kept for its plan, an older one dropped.</summary>
    private bool Matches(StepRef key, ISliceMessage message, string from)
    {
        if (_exchange is { } exchange && key == exchange.Key)
        {
            return !exchange.Committed;
        }

        if (_exchange is null || key > _exchange.Key)
        {
            _early.Hold(new PeerSlice(message, from), DateTime.UtcNow); // checked against its sender when its plan comes
        }

        return false;
    }

    private void Compute(Exchange exchange, IReadOnlyList<TreeNode> nodes)
    {
        if (nodes.Count > 0)
        {
            _ports.Compute(exchange.Key, _session.Parameters, exchange.Batch, exchange.Pass, nodes, () => _exchange == exchange && !exchange.Committed);
        }
    }
}

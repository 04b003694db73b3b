using CnnCluster.Engine.Data;
using CnnCluster.Engine.Layers;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Worker.Sharded;

/// <summary>What a replica sends and starts; the worker actor wires it to links and to its compute thread.</summary>
public interface IReplicaPorts
{
    void ToCoordinator(IProtocolMessage message);

    /// <summary>
    /// To the members at <paramref name="endpoints"/> (never this worker). <paramref name="pooled"/>, the
    /// message's array, came from <see cref="GradientBuffers.Shared"/> and goes back there once every copy
    /// of the message is encoded.
    /// </summary>
    void ToMembers(IReadOnlyList<string> endpoints, IProtocolMessage message, float[] pooled);

    /// <summary>
    /// Computes <paramref name="nodes"/> of the step with <paramref name="parameters"/> in the step's <paramref name="pass"/> on the compute thread; each
    /// result comes back through <see cref="ShardedReplica.OnNodeComputed"/> unless <paramref name="current"/> turns false first.
    /// </summary>
    void Compute(StepRef key, float[] parameters, ArraySegment<int> batch, PassContext pass, IReadOnlyList<TreeNode> nodes, Func<bool> current);

    /// <summary>Data-plane bytes (sent, received) of steps so far on this worker, state transfers apart.</summary>
    (long Sent, long Received) StepTraffic { get; }

    /// <summary>Data-plane bytes (sent, received) of whole-state transfers so far on this worker.</summary>
    (long Sent, long Received) StateTraffic { get; }

    /// <summary>A peer's message this replica will not use, and why (logged and counted by the host).</summary>
    void Refused(IProtocolMessage message, string why);
}

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
public sealed class ShardedReplica
{
    private readonly TrainingSession _session;
    private readonly IReplicaPorts _ports;
    private readonly float[] _startParameters, _startVelocity;
    private readonly EarlySlices _early;
    private long _startStep = -1;
    private Exchange? _exchange;
    private (long Sent, long Received) _trafficAtLastStep;

    public ShardedReplica(ReplicaInit init, Network network, LabeledImages data, IReplicaPorts ports)
    {
        RunId = init.RunId;
        Incarnation = init.Incarnation;
        _ports = ports;
        _session = new TrainingSession(network, init.Config.ToTrainingOptions(1), data, test: null);
        _session.Restore(new SessionState(init.Step, init.Parameters, init.Velocity, 0, 0, 0, 0));
        _startParameters = new float[network.ParameterCount];
        _startVelocity = new float[network.ParameterCount];
        _trafficAtLastStep = ports.StepTraffic;

        // a step's parts of this replica's slice and every slice's sum, twice over: room for one step ahead
        _early = new EarlySlices(maxBytes: (16L * network.ParameterCount) + (1 << 20));
    }

    public string RunId { get; }

    public long Incarnation { get; }

    /// <summary>Steps this replica has committed.</summary>
    public long Step => _session.Step;

    public float[] Parameters => _session.Parameters;

    /// <summary>The step in progress (or last begun).</summary>
    public StepRef? Current => _exchange?.Key;

    /// <summary>
    /// A plan: the next step (begun from this replica's state), the step just committed again (a new
    /// generation after a loss: the replica goes back to the step's start), or more nodes of the current
    /// one. Anything else means this replica is out of step: the coordinator is told, and sends a new state.
    /// </summary>
    public void OnPlan(StepPlan plan)
    {
        StepRef key = plan.Ref;
        long step = key.Step;
        if (_exchange is { } current && current.Key == key)
        {
            current.Computers = ComputersOf(plan); // a late node given to one more member: every owner takes its part too
            Compute(current, plan.Mine);
            return;
        }

        if (_exchange is { } older && key < older.Key)
        {
            return; // a plan overtaken by a newer one
        }

        if (_session.Step == step && _startStep == step - 1)
        {
            // committed here, but not by every member: go back to the step's start
            _session.Restore(new SessionState(_startStep, _startParameters, _startVelocity, 0, 0, 0, 0));
        }
        else if (_session.Step == step - 1)
        {
            _startStep = -1; // the copy of this step's start is taken below, while the nodes compute
        }
        else
        {
            _ports.ToCoordinator(new WorkFailed(RunId, Incarnation, step, $"{OutOfStep} {_session.Step}, the plan is for step {step}", WorkFailure.OutOfStep));
            return;
        }

        _exchange?.Abandon();
        ArraySegment<int> batch = _session.BeginStep();
        var exchange = new Exchange(key, plan, ParameterSlice.Partition(_session.Network.ParameterCount, plan.Members.Length), batch, _session.Pass) { Computers = ComputersOf(plan) };
        _exchange = exchange;
        Compute(exchange, plan.Mine);
        if (_startStep != _session.Step)
        {
            // read-only like the compute beside it; done before this actor handles any part or sum of the step
            _session.Parameters.CopyTo(_startParameters, 0);
            _session.Optimizer.Velocity.CopyTo(_startVelocity, 0);
            _startStep = _session.Step;
        }

        // parts and sums that came before this plan (from faster members); older ones are dropped, later ones wait
        foreach ((ISliceMessage m, string from) in _early.TakeUpTo(key, DateTime.UtcNow))
        {
            if (m.Ref != key)
            {
                continue;
            }

            if (m is SlicePart part)
            {
                OnPart(part, from);
            }
            else if (m is SliceSum sum)
            {
                OnSum(sum, from);
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
        _ports.ToCoordinator(new NodeDone(key, node, milliseconds));
        for (int k = 0; k < exchange.Slices.Length; k++)
        {
            ParameterSlice slice = exchange.Slices[k];
            // pooled: the reducer returns this replica's own part, the link a member's once encoded
            float[] values = GradientBuffers.Shared(slice.Count).RentUncleared();
            gradient.AsSpan(slice.Start, slice.Count).CopyTo(values);
            var part = new SlicePart(key, node, k, loss, values);
            if (k == exchange.Plan.Me)
            {
                OnPart(part, exchange.Plan.Members[k]);
            }
            else
            {
                _ports.ToMembers([exchange.Plan.Members[k]], part, values);
            }
        }
    }

    /// <summary>
    /// A part of this replica's slice from member <paramref name="from"/> (or itself): reduced in the tree's order
    /// once complete, and the sum goes to all. A part from a member not given its node is refused in words.
    /// </summary>
    public void OnPart(SlicePart part, string from)
    {
        StepRef key = part.Ref;
        if (!Matches(key, part, from))
        {
            return;
        }

        Exchange exchange = _exchange!;
        if (!exchange.Computes(part.Node, from))
        {
            if (part.Slice == exchange.Plan.Me && part.Values?.Length == exchange.Slices[part.Slice].Count)
            {
                GradientBuffers.Shared(part.Values.Length).Return(part.Values);
            }

            string given = exchange.Computers.TryGetValue(part.Node, out string[]? computers) ? $"given to {string.Join(", ", computers)}" : "not in the step";
            _ports.Refused(part, $"run {key.RunId} step {key.Step}: a part of node {part.Node} came from {from}, and the node is {given}");
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

        // the links encode later, and the commit scales this replica's sum in place: the members get a copy
        var wire = new SliceSum(key, exchange.Plan.Me, loss, sum);
        if (exchange.Plan.Members.Length > 1)
        {
            float[] copy = GradientBuffers.Shared(sum.Length).RentUncleared();
            sum.AsSpan().CopyTo(copy);
            _ports.ToMembers(exchange.Plan.Members.Where((_, k) => k != exchange.Plan.Me).ToList(), wire with { Values = copy }, copy);
        }

        TakeSum(exchange, wire);
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

    /// <summary>
    /// A slice's sum from member <paramref name="from"/>: taken if it is that member's slice (this replica's own slice it
    /// sums itself: a sum of it from outside is forged), of the slice's length and finite; with every slice in,
    /// the step is committed. What is refused is said (<see cref="IReplicaPorts.Refused"/>) and changes nothing:
    /// the owner's own sum still counts when it comes.
    /// </summary>
    public void OnSum(SliceSum sum, string from)
    {
        StepRef key = sum.Ref;
        if (!Matches(key, sum, from))
        {
            return;
        }

        Exchange exchange = _exchange!;
        if (SumProblem(exchange, sum, from) is { } problem)
        {
            _ports.Refused(sum, $"run {key.RunId} step {key.Step}: the sum of slice {sum.Slice} {problem}");
            return;
        }

        TakeSum(exchange, sum);
    }

    private static string? SumProblem(Exchange exchange, SliceSum sum, string from) =>
        sum.Slice < 0 || sum.Slice >= exchange.Sums.Length ? $"is of no slice of the step's {exchange.Sums.Length}"
        : sum.Slice == exchange.Plan.Me ? $"came from {from}, and that slice is this member's own"
        : from != exchange.Plan.Members[sum.Slice] ? $"came from {from}, and that slice is {exchange.Plan.Members[sum.Slice]}'s"
        : sum.Values.Length != exchange.Slices[sum.Slice].Count ? $"has {sum.Values.Length} values, the slice has {exchange.Slices[sum.Slice].Count}"
        : !double.IsFinite(sum.LossSum) ? $"has loss {sum.LossSum.ToString(System.Globalization.CultureInfo.InvariantCulture)}"
        : Engine.Kernels.Finite.FirstNotFinite(sum.Values) is int at and >= 0 ? $"holds {sum.Values[at]} at offset {at}"
        : null;

    private void TakeSum(Exchange exchange, SliceSum sum)
    {
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

    private void Commit(Exchange exchange)
    {
        var gradients = new SliceGradient[exchange.Slices.Length];
        for (int k = 0; k < gradients.Length; k++)
        {
            gradients[k] = new SliceGradient(exchange.Slices[k], exchange.Sums[k]!);
        }

        exchange.Committed = true;
        try
        {
            _session.Commit(gradients, exchange.LossSum, exchange.Batch.Count);
        }
        catch (TrainingDivergedException)
        {
            // the coordinator sees the loss and ends the run; this replica stays at the step's start
        }

        foreach (SliceGradient g in gradients)
        {
            GradientBuffers.Shared(g.Gradient.Length).Return(g.Gradient);
        }

        (long sent, long received) = _ports.StepTraffic;
        (long stateSent, long stateReceived) = _ports.StateTraffic;

        // every replica proves it holds the same bits with a fast checksum; the journal's SHA-256 comes from one member a step, in turn
        string hash = HashesStep(exchange.Plan) ? ParameterHash.Of(_session.Parameters) : "";
        string state = exchange.Plan.Digest ? ParameterHash.OfState(_session.Parameters, _session.Optimizer.Velocity) : "";
        _ports.ToCoordinator(new StepDone(exchange.Key, hash, exchange.LossSum,
            sent - _trafficAtLastStep.Sent, received - _trafficAtLastStep.Received, stateSent, stateReceived, ReplicaChecksum.Of(_session.Parameters), state));
        _trafficAtLastStep = (sent, received);
        if (exchange.Plan.Capture)
        {
            var captured = new ReplicaState(RunId, Incarnation, _session.Step, (float[])_session.Parameters.Clone(), (float[])_session.Optimizer.Velocity.Clone());
            _ports.ToCoordinator(ResultFaults.State is { } fault ? fault(captured) : captured);
        }
    }

    private static bool HashesStep(StepPlan plan) => plan.Me == StepPlan.HasherOf(plan.Ref.Step, plan.Members.Length);

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

    /// <summary>One step of one generation as this replica sees it.</summary>
    private sealed class Exchange(StepRef key, StepPlan plan, ParameterSlice[] slices, ArraySegment<int> batch, PassContext pass)
    {
        public StepRef Key { get; } = key;

        public StepPlan Plan { get; } = plan;

        public ParameterSlice[] Slices { get; } = slices;

        public ArraySegment<int> Batch { get; } = batch;

        /// <summary>The step's pass, taken with its batch: a plan that adds nodes later computes them in the same one.</summary>
        public PassContext Pass { get; } = pass;

        public SliceReduction Mine { get; } = new(plan.Nodes, slices[plan.Me].Count);

        public float[]?[] Sums { get; } = new float[slices.Length][];

        public double LossSum { get; set; }

        public bool Committed { get; set; }

        /// <summary>The endpoints of the members given each node (a later plan of the step may add one).</summary>
        public Dictionary<TreeNode, string[]> Computers { get; set; } = new();

        public bool Computes(TreeNode node, string member) => Computers.TryGetValue(node, out string[]? given) && given.Contains(member);

        public void Abandon() => Mine.Abandon();
    }
}

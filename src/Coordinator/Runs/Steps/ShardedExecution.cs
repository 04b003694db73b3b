using CnnCluster.Security;
using System.Diagnostics;
using CnnCluster.Coordinator.Cluster;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Runs.Steps;

/// <summary>
/// The sharded step (DESIGN §5): every member holds a replica; this coordinator sends each step's plan
/// (the members' endpoints, every tree node, each member's own), the members exchange slices among
/// themselves and report the step committed with a checksum of their replica, and the step counts once
/// every member reported it and they agree. A member lost or out of step, a refused part or an exchange
/// past its deadline runs the step again, whole, by a new generation of the members left. The session's
/// parameters are the run's only after a capture (a snapshot, an epoch's end, a join).
/// </summary>
public sealed partial class ShardedExecution<TWorker>(StepContext<TWorker> context) : StepExecution<TWorker>(context)
    where TWorker : notnull
{
    /// <summary>A sharded step whose nodes are all computed but whose slices do not all arrive within this is run again.</summary>
    public static readonly TimeSpan ExchangeDeadline = TimeSpan.FromSeconds(10);

    private readonly ShardedGroup<TWorker> _group = new(context.Order);
    private readonly HashSet<TWorker> _making = new(); // a first generation's members whose replicas are not made yet
    private ShardedStep<TWorker>? _step;
    private readonly StatesAsked _statesAsked = new(); // the steps after which member 0 was asked for its state
    private long _parametersStep = context.Session.Step; // the step the session's parameters belong to (behind the run's between captures)
    private string? _lastHash;

    public override long? InFlight => _step?.Step;

    public override long ParametersStep => _parametersStep;

    public override string CurrentHash() => ParametersCurrent || _lastHash is null ? ParameterHash.Of(Session.Parameters) : _lastHash;

    /// <summary>
    /// The first step planned ahead, if any, begins now that its predecessor is in (<see cref="Promote"/>). Else the
    /// workers waiting for a replica get the run's state first (when this session holds it; else after the next
    /// step, whose plan asks member 0 for it), then every member gets the step's plan; the step after it is
    /// planned ahead when it can be (<see cref="PlanAhead"/>).
    /// </summary>
    public override StepDecision Begin()
    {
        if (_ahead.Count > 0 && Promote(_ahead[0]) is { } promoted)
        {
            return promoted;
        }

        if (_group.Waiting.Count > 0 && ParametersCurrent)
        {
            Admit();
        }

        if (_making.Count > 0)
        {
            return StepDecision.Pending; // the first members' replicas are being made: the step begins once they are (ReplicaReady)
        }

        IReadOnlyList<TWorker> members = _group.Members;
        if (members.Count == 0)
        {
            return _group.Waiting.Count > 0 && !ParametersCurrent
                ? StepDecision.Rewinding($"every replica was lost after step {Session.Step}; continuing from the last snapshot (the steps after it are recomputed and checked)")
                : StepDecision.Waiting(NoWorkers);
        }

        if (Context.Config.Verify > 0 && members.Count == 1 && _group.Waiting.Count == 0)
        {
            // nobody to compare with: as the star holds a verified node until a second worker answers
            return StepDecision.Waiting(VerifyNeedsTwo);
        }

        long start = Telemetry.StepBegins();
        ArraySegment<int> batch = Session.BeginStep();
        long step = Session.Step + 1;
        // with --verify some nodes go to two members, and the step is checked (each slice's sum by a second member too)
        bool verifying = Context.Config.Verify > 0 && members.Count > 1;
        IReadOnlyList<Dispatch<TWorker>> dispatches = Scheduler.Begin(step, MicroShards(batch.Count), Now, node => verifying && Context.Config.Verifies(step, node.Start));
        _step = Planned(step, batch.Count, members, dispatches);
        Telemetry.Phases.Add(StepPhase.Assign, Stopwatch.GetElapsedTime(start));
        _step.AssignedAt = Stopwatch.GetTimestamp();
        PlanAhead();
        return StepDecision.Working;
    }

    /// <summary>
    /// Why a sharded run with --verify does not go on with one member: nothing checks it. (A step that brings a
    /// waiting worker in is still computed by the one member, so that the newcomer gets the run's state.)
    /// </summary>
    public const string VerifyNeedsTwo = "--verify compares two members' results: waiting for a second worker (one member now)";

    /// <summary>A worker with a data plane waits for a replica from the next step boundary on; one without cannot hold one.</summary>
    public override StepDecision Joined(TWorker worker, WorkerCapacity capacity)
    {
        if (capacity.DataEndpoint.Length == 0)
        {
            Log.Warning($"run {RunId}: worker {Context.Name(worker)} has no data plane and cannot hold a replica of a sharded run; it is left out");
            return StepDecision.Pending;
        }

        Workers.Add(worker, capacity);
        _group.Join(worker, capacity.Threads, capacity.DataEndpoint);
        return StepDecision.Pending;
    }

    public override StepDecision Lost(TWorker worker, string reason)
    {
        Workers.Remove(worker);
        return Left(worker, Scheduler.Lose(worker, Now), $"worker {Context.Name(worker)} lost ({reason})");
    }

    /// <summary>A replica is reached through its data plane only: a worker whose link failed is lost to the run.</summary>
    public override StepDecision LinkFailed(TWorker worker, string reason) => Lost(worker, reason);

    public override StepDecision Tick()
    {
        StepDecision sent = InFlight is null ? StepDecision.Pending : Send(Scheduler.Tick(Now));
        if (_step?.Progress is { AllNodesAt: { } computed } && Now - computed > ExchangeDeadline)
        {
            return Restart($"its slices were not all exchanged within {ExchangeDeadline.TotalSeconds:F0} s of the last node");
        }

        return sent.Or(Orphaned());
    }

    public override void Abandon()
    {
        DropAhead();
        _step = null;
        Scheduler.End(Now, committed: false);
    }

    /// <summary>This coordinator's data-plane bytes, then each worker's as it reported them.</summary>
    public override NodeTraffic[] NodeTraffic() =>
        [new NodeTraffic("coordinator", Telemetry.ShardedSteps, Context.DataTraffic.StepSent, Context.DataTraffic.StepReceived, Context.DataTraffic.StateSent, Context.DataTraffic.StateReceived, Telemetry.CpuMicrosecondsPerStep),
         .. Workers.ReportedTraffic];

    protected override bool TakesPart(TWorker worker) => base.TakesPart(worker) || _group.IsMember(worker);

    protected override StepDecision HandleStep(TWorker sender, IProtocolMessage message) => HeldForAhead(sender, message) ? StepDecision.Pending : message switch
    {
        NodeDone d when Current(d.Ref)?.Progress.Checks is not null => OnCheckedNodeDone(sender, d),
        NodeDone d => OnNodeDone(sender, d),
        SumReport r => OnSumReport(sender, r),
        PartsReply r => OnPartsReply(sender, r),
        StepDone d => OnStepDone(sender, d),
        ReplicaState r => OnReplicaState(sender, r),
        ReplicaReady r => OnReplicaReady(sender, r),
        PartRefused p => OnPartRefused(sender, p),
        _ => Stale(), // a star's result: this run has none
    };

    /// <summary>A replica that missed a step (or was never made) gets the run's state at the next boundary.</summary>
    protected override StepDecision Failed(TWorker worker, WorkFailed f)
    {
        if (f.Kind != WorkFailure.OutOfStep)
        {
            return base.Failed(worker, f);
        }

        Log.Warning($"run {RunId}: worker {Context.Name(worker)}: {TerminalText.Safe(f.Reason)}; it gets the run's state again");
        Scheduler.Lose(worker, Now);
        StepDecision decision = _group.OutOfStep(worker) ? Restart($"worker {Context.Name(worker)} was out of step") : StepDecision.Pending;
        return decision.Or(NotMaking(worker));
    }

    protected override StepDecision Left(TWorker worker, IReadOnlyList<Dispatch<TWorker>> moved, string why)
    {
        StepDecision decision = _group.Remove(worker) ? Restart(why) : Send(moved).Or(Orphaned());
        return decision.Or(NotMaking(worker));
    }

    /// <summary>A replica is made: once every first member's is, the run begins its first step (a later member's changes nothing).</summary>
    private StepDecision OnReplicaReady(TWorker sender, ReplicaReady r) =>
        r.RunId == RunId && r.Incarnation == Context.Incarnation ? NotMaking(sender) : Stale();

    /// <summary>The worker's replica is made, or never will be (it left): the first step begins when no other is still being made.</summary>
    private StepDecision NotMaking(TWorker worker) =>
        _making.Remove(worker) && _making.Count == 0 && _step is null ? StepDecision.Resuming : StepDecision.Pending;

    /// <summary>The step runs again, whole, by a new generation of the members left (replicas that committed it go back to its start).</summary>
    private StepDecision Restart(string reason)
    {
        DropAhead(); // its plan was for the members and the state after this step: replicas drop it at the new generation's plan
        if (_step is not { } step)
        {
            return StepDecision.Pending; // between steps: the next plan has the new membership
        }

        Log.Warning($"run {RunId} step {step.Step}: {reason}; the step runs again with the {_group.Members.Count} member(s) left");
        Telemetry.Reassigned += step.Progress.Nodes.Length;
        Scheduler.End(Now, committed: false);
        _step = null;
        return StepDecision.Restarting(reason);
    }

    /// <summary>The step in flight when the message is of it (this run, incarnation, generation and step), else null.</summary>
    private ShardedStep<TWorker>? Current(StepRef about) => _step is { } s && s.Ref == about ? s : null;

    private StepDecision Stale()
    {
        Telemetry.Stale++;
        return StepDecision.Pending;
    }

    /// <summary>
    /// A slice owner refused a part of a node (not finite, wrong length): the worker that computed it is
    /// struck (quarantined at the second failure) and the step runs again. Every owner reports the same
    /// node; the first report restarts the step, and the others are of an older generation.
    /// </summary>
    private StepDecision OnPartRefused(TWorker sender, PartRefused p)
    {
        if (Current(p.Ref) is not { } step || !step.Progress.Members.Contains(sender))
        {
            return Stale(); // only a member of this generation owns a slice
        }

        IReadOnlyList<TWorker> computedBy = step.Progress.AssignedTo(p.Node);
        int named = Array.IndexOf(step.Progress.Endpoints, p.From);
        TWorker? culprit = named >= 0 ? step.Progress.Members[named] : computedBy.Count == 1 ? computedBy[0] : default;
        if (culprit is not null && !step.Struck.Add(culprit))
        {
            return StepDecision.Pending; // struck once this step (outvoted, or refused by another owner)
        }

        Telemetry.Refused++;
        Log.Warning($"run {RunId} step {step.Step}: a part of node {p.Node} from {(culprit is null ? $"one of {computedBy.Count} workers" : Context.Name(culprit))} was refused by a member summing its slice: {TerminalText.Safe(p.Reason)}");

        // a quarantine restarts the step itself, without the worker; a verified node's other computer's part still counts
        StepDecision left = StepDecision.Pending;
        bool quarantined = culprit is not null && Strike(culprit, $"a part of node {p.Node} at step {step.Step} refused: {p.Reason}", out left);
        return quarantined ? left
            : step.Progress.Checks is not null && computedBy.Count > 1 ? StepDecision.Pending
            : Restart($"a part of node {p.Node} was refused");
    }

    private StepDecision OnNodeDone(TWorker sender, NodeDone d)
    {
        if (Current(d.Ref) is not { } step || Scheduler.Accept(sender, step.Step, d.Node, Now) != ResultOutcome.Accepted)
        {
            return Stale();
        }

        Telemetry.Results++;
        step.ComputeBy[sender] = step.ComputeBy.GetValueOrDefault(sender) + d.ComputeMilliseconds;
        if (Scheduler.Complete)
        {
            step.Progress.AllNodesAt = Now;
        }

        return StepDecision.Pending;
    }

    private StepDecision OnStepDone(TWorker sender, StepDone d)
    {
        if (Current(d.Ref) is not { } step || !step.Progress.Add(sender, d))
        {
            return Stale();
        }

        Workers.Reported(sender, d);
        return Commit(step);
    }

    /// <summary>The state asked of member 0 after the step (and only its, only then, only of the model's size); one of the current step that nobody was asked for is refused in words.</summary>
    private StepDecision OnReplicaState(TWorker sender, ReplicaState r)
    {
        if (_step is { } current && current.Ref.Of(r.RunId, r.Incarnation) && r.Step == current.Step && !_statesAsked.Contains(r.Step))
        {
            Telemetry.Refused++;
            Log.Warning($"run {RunId} step {r.Step}: refused a state worker {Context.Name(sender)} sent unasked (a state is taken only from member 0, after a step whose plan asks for it)");
            return StepDecision.Pending;
        }

        if (_step is not { } step || !step.Ref.Of(r.RunId, r.Incarnation) || r.Step != step.Step || step.Progress is not { Capture: true, Captured: null }
            || !sender.Equals(step.Progress.Members[0]) || r.Parameters.Length != Session.Network.ParameterCount || r.Velocity.Length != r.Parameters.Length)
        {
            return Stale();
        }

        step.Progress.Captured = r;
        return Commit(step);
    }

    /// <summary>Once every member reported the step (and the state asked for is in): the replicas' agreed hash, the step counted here.</summary>
    private StepDecision Commit(ShardedStep<TWorker> step)
    {
        ShardedStepProgress<TWorker> progress = step.Progress;
        if (!progress.Complete)
        {
            return StepDecision.Pending;
        }

        (string hash, double lossSum, string? disagreement) = progress.Outcome(StepPlan.HasherOf(step.Step, progress.Members.Count));
        if (disagreement is not null)
        {
            return StepDecision.Failing(disagreement + "; one of these machines computes wrongly", RunFailure.Disagreement);
        }

        if (progress.Captured is { } sent && progress.StateProblem(sent) is { } poisoned)
        {
            // the state every replica holds is known by its digest: one that differs is not taken, its sender is struck
            TWorker sender = progress.Members[0];
            Telemetry.Refused++;
            GradientBuffers.Shared(sent.Parameters.Length).Return(sent.Parameters);
            GradientBuffers.Shared(sent.Velocity.Length).Return(sent.Velocity);
            Log.Warning($"run {RunId} step {step.Step}: the state worker {Context.Name(sender)} sent is refused: {poisoned}");
            return Strike(sender, $"its state after step {step.Step} was refused: {poisoned}", out StepDecision left)
                ? left
                : Restart("the state sent for it was refused");
        }

        Telemetry.NodesIn(step.AssignedAt, step.ComputeBy.Count > 0 ? step.ComputeBy.Values.Max() * 1000 : 0);
        StepReport report;
        try
        {
            report = Session.CommittedElsewhere(lossSum, step.BatchSize);
        }
        catch (TrainingDivergedException e)
        {
            return StepDecision.Failing(e.Message, RunFailure.Diverged);
        }

        if (progress.Captured is { } captured)
        {
            Session.Adopt(captured.Step, captured.Parameters, captured.Velocity);
            _parametersStep = captured.Step;
            GradientBuffers.Shared(captured.Parameters.Length).Return(captured.Parameters);
            GradientBuffers.Shared(captured.Velocity.Length).Return(captured.Velocity);
        }

        _step = null;
        Scheduler.End(Now);
        Telemetry.ShardedSteps++;
        _lastHash = hash;
        return StepDecision.Committing(report, hash);
    }
}

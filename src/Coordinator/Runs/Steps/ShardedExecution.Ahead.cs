using System.Diagnostics;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Runs.Steps;

/// <summary>
/// The control plane pipelined (issue 31): the plans of the <see cref="StepPlan.PlansAhead"/> steps after the one in
/// flight go out before it is in, so a replica that commits a step begins the next at once instead of waiting for the
/// coordinator to hear every member and answer (on a busy machine the coordinator's threads wait for a core now and
/// then: a window of two keeps the replicas going). The plans ahead are for the same members and the state after the
/// step before each; whatever changes them (a member lost, a step run again) drops them all, and replicas drop them
/// at the new generation's plan. Their members' reports that come before their step is the coordinator's wait for it
/// (<see cref="HeldForAhead"/>).
/// </summary>
public sealed partial class ShardedExecution<TWorker>
{
    private readonly List<ShardedStep<TWorker>> _ahead = new(); // in step order
    private readonly List<(TWorker Sender, IProtocolMessage Message)> _aheadMessages = new();

    /// <summary>
    /// Plans the steps after the one in flight, up to the window, when nothing they depend on can change before them:
    /// no worker waits to join (it joins at a boundary the coordinator holds the state of), steps are not checked
    /// (--verify), and the run has steps after it.
    /// </summary>
    private void PlanAhead()
    {
        if (_step is not { } step || Context.Config.Verify > 0 || _group.Waiting.Count > 0)
        {
            return;
        }

        while (_ahead.Count < StepPlan.PlansAhead)
        {
            long next = (_ahead.Count > 0 ? _ahead[^1].Step : step.Step) + 1;
            if (next > Session.TotalSteps)
            {
                return;
            }

            int batchSize = Session.BatchSizeOf(next - 1);
            _ahead.Add(Planned(next, batchSize, step.Progress.Members, Scheduler.Plan(MicroShards(batchSize))));
        }
    }

    /// <summary>
    /// The first step planned ahead begins: the scheduler takes it (the plan must still be what it would send, e.g. no
    /// member became a suspect meanwhile; else every plan ahead is dropped and the step planned again, by a new
    /// generation, in <see cref="Begin"/>), the window is filled again, and the reports of it that came early count
    /// now. Null when the plan no longer holds. (Its members are the run's: any change of members ran the step before
    /// it again, which dropped it.)
    /// </summary>
    private StepDecision? Promote(ShardedStep<TWorker> ahead)
    {
        _ahead.RemoveAt(0);
        List<(TWorker Sender, IProtocolMessage Message)> early = _aheadMessages.Where(m => OfStep(m.Message, ahead.Ref)).ToList();
        _aheadMessages.RemoveAll(m => OfStep(m.Message, ahead.Ref));
        long start = Stopwatch.GetTimestamp();
        ArraySegment<int> batch = Session.BeginStep();
        IReadOnlyList<Dispatch<TWorker>> dispatches = Scheduler.Begin(ahead.Step, MicroShards(batch.Count), Now);
        if (!SamePlan(dispatches, ahead.Dispatches))
        {
            Scheduler.End(Now, committed: false);
            DropAhead();
            return null;
        }

        Telemetry.StepBegins();
        _step = ahead;
        Telemetry.Phases.Add(StepPhase.Assign, Stopwatch.GetElapsedTime(start));
        ahead.AssignedAt = Stopwatch.GetTimestamp();
        PlanAhead();
        StepDecision decision = StepDecision.Working;
        foreach ((TWorker sender, IProtocolMessage message) in early)
        {
            decision = decision.Or(HandleStep(sender, message));
        }

        return decision;
    }

    private static bool SamePlan(IReadOnlyList<Dispatch<TWorker>> a, IReadOnlyList<Dispatch<TWorker>> b) =>
        a.Count == b.Count && a.Zip(b, (x, y) => x.Worker.Equals(y.Worker) && x.Nodes.SequenceEqual(y.Nodes)).All(same => same);

    private void DropAhead()
    {
        _ahead.Clear();
        _aheadMessages.Clear();
    }

    /// <summary>
    /// A member's report of a step planned ahead, which came before the steps before it are in: kept until it begins
    /// (at most a few per member, node and step; more is dropped, as stale).
    /// </summary>
    private bool HeldForAhead(TWorker sender, IProtocolMessage message)
    {
        if (!_ahead.Any(a => OfStep(message, a.Ref)))
        {
            return false;
        }

        if (_aheadMessages.Count < _ahead.Sum(a => a.Progress.Members.Count * (a.Progress.Nodes.Length + 4)))
        {
            _aheadMessages.Add((sender, message));
        }

        return true;
    }

    private static bool OfStep(IProtocolMessage message, StepRef step) => message switch
    {
        NodeDone d => d.Ref == step,
        StepDone d => d.Ref == step,
        PartRefused p => p.Ref == step,
        ReplicaState r => step.Of(r.RunId, r.Incarnation) && r.Step == step.Step,
        _ => false,
    };
}

using System.Diagnostics;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Runs.Steps;

/// <summary>
/// The control plane pipelined (issue 31): the plan of step t + 1 goes out with step t's, so a replica that
/// commits t begins t + 1 at once instead of waiting for the coordinator to hear every member and answer.
/// The plan ahead is for the same members and the state after t; whatever changes them (a member lost, a
/// step run again) drops it, and its replicas drop it at the new generation's plan. Its members' reports
/// that come before t is in wait for it (<see cref="HeldForAhead"/>).
/// </summary>
public sealed partial class ShardedExecution<TWorker>
{
    private ShardedStep<TWorker>? _ahead;
    private readonly List<(TWorker Sender, IProtocolMessage Message)> _aheadMessages = new();

    /// <summary>
    /// Plans the step after the one in flight, when nothing it depends on can change before it: no worker waits to
    /// join (it joins at a boundary the coordinator holds the state of), steps are not checked (--verify), and the
    /// run has a step after it.
    /// </summary>
    private void PlanAhead()
    {
        if (_step is not { } step || _ahead is not null || Context.Config.Verify > 0 || _group.Waiting.Count > 0 || step.Step >= Session.TotalSteps)
        {
            return;
        }

        long next = step.Step + 1;
        int batchSize = Session.BatchSizeOf(next - 1);
        _ahead = Planned(next, batchSize, step.Progress.Members, Scheduler.Plan(MicroShards(batchSize)));
    }

    /// <summary>
    /// The step planned ahead begins: the scheduler takes it (the plan must still be what it would send, e.g. no
    /// member became a suspect meanwhile; else it is planned again, by a new generation, in <see cref="Begin"/>), the
    /// next one is planned ahead, and the reports that came early count now. Null when the plan ahead no longer
    /// holds. (Its members are the run's: any change of members ran the step before it again, which dropped it.)
    /// </summary>
    private StepDecision? Promote(ShardedStep<TWorker> ahead)
    {
        List<(TWorker Sender, IProtocolMessage Message)> early = [.. _aheadMessages];
        DropAhead();
        long start = Stopwatch.GetTimestamp();
        ArraySegment<int> batch = Session.BeginStep();
        IReadOnlyList<Dispatch<TWorker>> dispatches = Scheduler.Begin(ahead.Step, MicroShards(batch.Count), Now);
        if (!SamePlan(dispatches, ahead.Dispatches))
        {
            Scheduler.End(Now, committed: false);
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
        _ahead = null;
        _aheadMessages.Clear();
    }

    /// <summary>
    /// A member's report of the step planned ahead, which came before the step in flight is in: kept until it begins
    /// (at most a few per member and node; more is dropped, as stale).
    /// </summary>
    private bool HeldForAhead(TWorker sender, IProtocolMessage message)
    {
        if (_ahead is not { } ahead || !OfStep(message, ahead.Ref))
        {
            return false;
        }

        if (_aheadMessages.Count < ahead.Progress.Members.Count * (ahead.Progress.Nodes.Length + 4))
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

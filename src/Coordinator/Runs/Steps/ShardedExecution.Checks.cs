using CnnCluster.Security;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Runs.Steps;

/// <summary>
/// A checked step of a sharded run (--verify, DESIGN §5): each computer's part digests are voted on as the star votes
/// on results (a verified node's two computers must agree, a third settles, the outvoted are struck); once all are
/// agreed the members learn them and sum only matching parts; each slice's owner and checker report their sums, and
/// the members commit only with the sums both reported; a dispute is settled here from the parts, the one that
/// reported a wrong sum struck, and the step run again.
/// </summary>
public sealed partial class ShardedExecution<TWorker>
{
    private StepDecision OnCheckedNodeDone(TWorker sender, NodeDone d)
    {
        ShardedStep<TWorker> step = Current(d.Ref)!;
        StepChecks<TWorker> checks = step.Progress.Checks!;
        if (checks.Claim(sender, d.Node, d.Digests) is not ulong vote)
        {
            Telemetry.Refused++;
            Log.Warning($"run {RunId} step {step.Step}: worker {Context.Name(sender)} computed node {d.Node} without a digest of each slice; it is computed again elsewhere");
            StepDecision resent = Send(Scheduler.Refuse(sender, step.Step, d.Node, Now));
            return step.Struck.Add(sender) && Strike(sender, $"node {d.Node} at step {step.Step} without digests", out StepDecision left) ? resent.Or(left) : resent;
        }

        ResultOutcome outcome = Scheduler.Accept(sender, step.Step, d.Node, Now, vote, out ulong agreed, out IReadOnlyList<TWorker> outvoted);
        if (outcome == ResultOutcome.Held)
        {
            step.ComputeBy[sender] = step.ComputeBy.GetValueOrDefault(sender) + d.ComputeMilliseconds;
            if (checks.Unsettled(d.Node))
            {
                // a waiting worker has no replica of this step: the step runs again (and brings it in), the node computed anew
                Telemetry.Disagreements++;
                return Restart($"its members computed node {d.Node} differently and none of them is left to settle it");
            }

            return Send(Scheduler.Reassign(Now)); // waiting for the other computer, or a disagreement for a third
        }

        if (outcome != ResultOutcome.Accepted)
        {
            return Stale();
        }

        Telemetry.Results++;
        step.ComputeBy[sender] = step.ComputeBy.GetValueOrDefault(sender) + d.ComputeMilliseconds;
        checks.Agree(d.Node, agreed);
        Telemetry.Verified += step.Progress.AssignedTo(d.Node).Count > 1 ? 1 : 0;
        StepDecision struck = StepDecision.Pending;
        foreach (TWorker worker in outvoted.Where(step.Struck.Add))
        {
            Telemetry.Disagreements++;
            Log.Warning($"run {RunId} step {step.Step}: worker {Context.Name(worker)} computed node {d.Node} differently from two others; theirs counts");
            struck = Strike(worker, $"node {d.Node} at step {step.Step} disagreed with two other workers", out StepDecision left) ? struck.Or(left) : struck;
        }

        if (Scheduler.Complete && _step == step)
        {
            step.Progress.AllNodesAt = Now;
            ToMembers(step, checks.AgreedParts(step.Ref));
        }

        return struck;
    }

    private StepDecision OnSumReport(TWorker sender, SumReport report)
    {
        if (Current(report.Ref) is not { Progress.Checks: { } checks } step)
        {
            return Stale();
        }

        switch (checks.Report(sender, report))
        {
            case SumOutcome.AllAgreed:
                ToMembers(step, checks.AgreedSums(step.Ref));
                break;
            case SumOutcome.Disputed:
                Telemetry.Disagreements++;
                (TWorker owner, TWorker checker) = checks.SummersOf(report.Slice);
                Log.Warning($"run {RunId} step {step.Step}: the sum of slice {report.Slice} differs between its owner {Context.Name(owner)} and its checker {Context.Name(checker)}; settling it from the parts");
                Workers.Channel(owner)?.SendOnDataPlane(new PartsRequest(step.Ref, report.Slice));
                Workers.Channel(checker)?.SendOnDataPlane(new PartsRequest(step.Ref, report.Slice));
                break;
            case SumOutcome.Refused:
                Telemetry.Refused++;
                Log.Warning($"run {RunId} step {step.Step}: a report of slice {report.Slice}'s sum from {Context.Name(sender)}, which does not sum it (or reported it already), is refused");
                break;
        }

        return StepDecision.Pending;
    }

    private StepDecision OnPartsReply(TWorker sender, PartsReply reply)
    {
        if (Current(reply.Ref) is not { Progress.Checks: { } checks } step || checks.Settle(sender, reply, out IReadOnlyList<TWorker> wrong) is not { } why)
        {
            return Stale();
        }

        StepDecision decision = StepDecision.Pending;
        foreach (TWorker worker in wrong.Where(step.Struck.Add))
        {
            Telemetry.Refused++;
            Log.Warning($"run {RunId} step {step.Step}: worker {Context.Name(worker)} is wrong: {TerminalText.Safe(why)}");
            decision = Strike(worker, $"{why} (step {step.Step})", out StepDecision left) ? decision.Or(left) : decision;
        }

        return _step == step ? Restart($"the sum of slice {reply.Slice} was disputed and settled against {string.Join(", ", wrong.Select(Context.Name))}").Or(decision) : decision;
    }

    private void ToMembers(ShardedStep<TWorker> step, IProtocolMessage message)
    {
        foreach (TWorker member in step.Progress.Members)
        {
            Workers.Channel(member)?.SendOnDataPlane(message);
        }
    }
}

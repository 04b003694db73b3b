using System.Diagnostics;
using CnnCluster.Coordinator.Cluster;
using CnnCluster.Coordinator.Runs.Workers;
using CnnCluster.Engine.Kernels;
using CnnCluster.Engine.Layers;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Runs.Steps;

/// <summary>
/// The star (DESIGN §4): this coordinator holds the parameters, sends each worker its tree nodes with a
/// copy of them, checks every result (<see cref="ResultCheck"/>) before it counts, completes the tree in
/// order and applies the update. A refused result is computed again elsewhere and counts against its
/// worker; a node being verified counts once two workers agree bit for bit, and the worker outvoted is
/// struck. A result refused for a value that is not finite is refereed: this coordinator computes the node
/// itself, and if it is not finite here either the training has diverged (the run fails as diverged instead of
/// quarantining every worker in turn). The run hashes the parameters itself, after the next step's work has gone out.
/// </summary>
public sealed class StarExecution<TWorker>(StepContext<TWorker> context) : StepExecution<TWorker>(context)
    where TWorker : notnull
{
    private readonly TreeReducer _reducer = new(GradientBuffers.Shared(context.Session.Network.ParameterCount));
    private StarStep<TWorker>? _step;
    private ParallelGradient? _referee; // this coordinator's own engine, made for the first result refused as not finite

    public override long? InFlight => _step?.Step;

    public override long ParametersStep => Session.Step;

    public override string CurrentHash() => ParameterHash.Of(Session.Parameters);

    public override StepDecision Begin()
    {
        if (Scheduler.Workers.Count == 0)
        {
            return StepDecision.Waiting(NoWorkers);
        }

        long start = Telemetry.StepBegins();
        ArraySegment<int> batch = Session.BeginStep();
        long step = Session.Step;
        IReadOnlyList<Dispatch<TWorker>> dispatches = Scheduler.Begin(step, new ShardPlan(batch.Count, Context.Config.ShardSize).MicroShards, Now, node => Context.Config.Verifies(step, node.Start));

        // a copy per step: in-process workers read it while late duplicates of an older step may still run
        float[] parameters = _reducer.Buffers.RentUncleared();
        Session.Parameters.CopyTo(parameters, 0);
        _step = new StarStep<TWorker>(step, batch.ToArray(), parameters, Workers.Encoding);
        Send(dispatches);
        Telemetry.Phases.Add(StepPhase.Assign, Stopwatch.GetElapsedTime(start) - (Workers.Encoding - _step.EncodingAtStart));
        _step.AssignedAt = Stopwatch.GetTimestamp();
        return StepDecision.Working;
    }

    public override StepDecision Joined(TWorker worker, WorkerCapacity capacity)
    {
        Workers.Add(worker, capacity);
        return Send(Scheduler.Join(worker, capacity.Threads, Now));
    }

    public override StepDecision Lost(TWorker worker, string reason)
    {
        Workers.Remove(worker);
        IReadOnlyList<Dispatch<TWorker>> moved = Scheduler.Lose(worker, Now);
        if (moved.Count > 0)
        {
            Log.Warning($"run {RunId} step {Scheduler.Step}: worker {Context.Name(worker)} lost ({reason}); {moved.Sum(d => d.Nodes.Count)} node(s) reassigned");
        }

        return Left(worker, moved, reason);
    }

    /// <summary>The worker is reached through Akka from now on, and what it had moves.</summary>
    public override StepDecision LinkFailed(TWorker worker, string reason)
    {
        Workers.Channel(worker)?.FallBackToAkka();
        Log.Warning($"run {RunId}: {reason}; worker {Context.Name(worker)} gets its work through Akka from now on");
        return Send(Scheduler.Unassign(worker, Now));
    }

    public override void Abandon()
    {
        _referee?.Dispose();
        _referee = null;
        if (_step is { } step)
        {
            _reducer.Buffers.Return(step.Parameters);
            _step = null;
        }

        Scheduler.End(Now, committed: false);
    }

    protected override StepDecision HandleStep(TWorker sender, IProtocolMessage message) => message switch
    {
        NodeResult r => OnResult(sender, r),
        _ => StepDecision.Pending, // a replica's message: this run has none
    };

    protected override StepDecision Left(TWorker worker, IReadOnlyList<Dispatch<TWorker>> moved, string why) => Send(moved).Or(Orphaned());

    protected override StepDecision Send(IReadOnlyList<Dispatch<TWorker>> dispatches)
    {
        if (_step is not { } step || dispatches.Count == 0)
        {
            return StepDecision.Pending;
        }

        PassContext pass = Session.PassOf(step.Step);
        foreach (Dispatch<TWorker> d in dispatches)
        {
            if (d.Reason == DispatchReason.Speculative)
            {
                Telemetry.Speculative++;
                Log.Warning($"run {RunId} step {step.Step}: node {d.Nodes[0]} is late; also sent to {Context.Name(d.Worker)}");
            }
            else if (d.Reason is DispatchReason.Orphaned or DispatchReason.Recompute)
            {
                Telemetry.Reassigned += d.Nodes.Count;
            }

            Telemetry.Assignments++;
            Workers.Channel(d.Worker)?.Send(new WorkAssignment(RunId, Context.Incarnation, step.Step, Context.Config.ModelJson, Context.Config.DataLimit, Context.Config.ShardSize,
                step.Batch, d.Nodes.ToArray(), step.Parameters, Context.DataFingerprint, pass.Seed, pass.Epoch, pass.Augment));
        }

        return StepDecision.Working;
    }

    /// <summary>A worker's result: it counts once checked (and, for a node being verified, agreed on).</summary>
    private StepDecision OnResult(TWorker sender, NodeResult r)
    {
        StarStep<TWorker>? step = _step;
        if (r.RunId != RunId || r.Incarnation != Context.Incarnation || step is null || r.Step != step.Step)
        {
            Telemetry.Stale++;
            ReturnGradient(sender, r);
            return StepDecision.Pending;
        }

        if (ResultCheck.Problem(r, Session.Network.ParameterCount) is string problem)
        {
            if (ResultCheck.NotFinite(r, Session.Network.ParameterCount) && DivergesHere(step, r.Node) is double loss)
            {
                ReturnGradient(sender, r);
                Log.Warning($"run {RunId} step {step.Step}: the result of node {r.Node} from worker {Context.Name(sender)} is not finite ({problem}), and this coordinator computes the same");
                return StepDecision.Failing(new TrainingDivergedException(step.Step, loss, Session.LearningRate).Message, RunFailure.Diverged);
            }

            Telemetry.Refused++;
            Log.Warning($"run {RunId} step {step.Step}: the result of node {r.Node} from worker {Context.Name(sender)} is refused: {problem}; it is computed again elsewhere");
            ReturnGradient(sender, r);
            StepDecision resent = Send(Scheduler.Refuse(sender, r.Step, r.Node, Now));
            return Strike(sender, $"result of node {r.Node} at step {r.Step} refused: {problem}", out StepDecision left) ? resent.Or(left) : resent;
        }

        ulong digest = Context.Config.Verify > 0 ? ResultCheck.Digest(r) : 0;
        ResultOutcome outcome = Scheduler.Accept(sender, r.Step, r.Node, Now, digest, out ulong agreed, out IReadOnlyList<TWorker> outvoted);
        if (outcome == ResultOutcome.Held)
        {
            // kept until a second (or third) answer agrees with one of those held
            step.Held.TryAdd((r.Node.Start, digest), (r.Gradient, r.LossSum));
            step.Computed(sender, r.ComputeMilliseconds);
            return Send(Scheduler.Reassign(Now));
        }

        if (outcome != ResultOutcome.Accepted)
        {
            Telemetry.Stale++;
            ReturnGradient(sender, r);
            return StepDecision.Pending;
        }

        StepDecision struck = StepDecision.Pending;
        if (Context.Config.Verify > 0 && (step.Held.Count > 0 || outvoted.Count > 0))
        {
            (r, struck) = Agreed(sender, step, r, digest, agreed, outvoted);
        }

        Telemetry.Results++;
        if (!Workers.InProcess(sender) && Workers.Channel(sender) is { Kind: ChannelKind.Akka } akka)
        {
            akka.ReceivedOverAkka(4L * r.Gradient.Length);
        }

        step.Done.Add(r.Node.Start, (r.Node, r.Gradient, r.LossSum));
        step.Computed(sender, r.ComputeMilliseconds);
        if (!Scheduler.Complete)
        {
            return struck;
        }

        double compute = step.ComputeBy.Values.Max() * 1000;
        double encode = (Workers.Encoding - step.EncodingAtStart).TotalMicroseconds;
        Telemetry.NodesIn(step.AssignedAt, compute, encode, encodingPhase: true);
        return Commit(step);
    }

    /// <summary>A verified node is in: the answer with the agreed digest counts, the others' buffers go back, and the outvoted are struck.</summary>
    private (NodeResult Counted, StepDecision Struck) Agreed(TWorker sender, StarStep<TWorker> step, NodeResult last, ulong digest, ulong agreed, IReadOnlyList<TWorker> outvoted)
    {
        NodeResult counted = last;
        if (digest != agreed)
        {
            (float[] gradient, double loss) = step.Held[(last.Node.Start, agreed)];
            counted = last with { Gradient = gradient, LossSum = loss };
            ReturnGradient(sender, last);
        }

        foreach (((int start, ulong d), (float[] gradient, double _)) in step.Held.Where(h => h.Key.Start == last.Node.Start).ToList())
        {
            step.Held.Remove((start, d));
            if (!ReferenceEquals(gradient, counted.Gradient))
            {
                _reducer.Buffers.Return(gradient);
            }
        }

        Telemetry.Verified++;
        StepDecision struck = StepDecision.Pending;
        if (outvoted.Count > 0)
        {
            Telemetry.Disagreements++;
            foreach (TWorker worker in outvoted)
            {
                Log.Warning($"run {RunId} step {last.Step}: worker {Context.Name(worker)} computed node {last.Node} differently from two others; theirs counts");
                if (Strike(worker, $"node {last.Node} at step {last.Step} disagreed with two other workers", out StepDecision left))
                {
                    struck = struck.Or(left);
                }
            }
        }

        return (counted, struck);
    }

    /// <summary>Completes the tree in order and applies the update; the run does the rest (the next step first).</summary>
    private StepDecision Commit(StarStep<TWorker> step)
    {
        long start = Stopwatch.GetTimestamp();
        foreach ((int _, (TreeNode node, float[] gradient, double loss)) in step.Done.OrderBy(kv => kv.Key))
        {
            _reducer.Push(node.Start, node.Level, gradient, loss);
        }

        (float[] sum, double lossSum) = _reducer.Finish();
        long reduced = Telemetry.Phases.AddSince(StepPhase.Reduce, start);
        StepReport report;
        try
        {
            report = Session.Commit(sum, lossSum, step.Batch.Length);
        }
        catch (TrainingDivergedException e)
        {
            return StepDecision.Failing(e.Message, RunFailure.Diverged);
        }

        Telemetry.Phases.AddSince(StepPhase.Optimizer, reduced);
        _reducer.Buffers.Return(sum);
        _reducer.Buffers.Return(step.Parameters);
        _step = null;
        Scheduler.End(Now);
        return StepDecision.Committing(report);
    }

    /// <summary>
    /// The referee of a result that is not finite: the node computed here with the step's parameters (the
    /// engine's bits, as any healthy worker's). Its loss when that is not finite either (the training diverged),
    /// null when it is (the worker computes wrongly).
    /// </summary>
    private double? DivergesHere(StarStep<TWorker> step, TreeNode node)
    {
        _referee ??= new ParallelGradient(Session.Network, Context.Config.ShardSize, 1);
        var batch = new ArraySegment<int>(step.Batch);
        (float[] g, double loss) = _referee.ComputeBlock(step.Parameters, Session.TrainingData, batch, new ShardPlan(batch.Count, Context.Config.ShardSize),
            node.Level, node.Start >> node.Level, Session.PassOf(step.Step));
        bool finite = double.IsFinite(loss) && Finite.FirstNotFinite(g) < 0;
        _reducer.Buffers.Return(g);
        return finite ? null : loss;
    }

    /// <summary>A result's gradient goes back to the pool when it was decoded into one (not an in-process worker's own).</summary>
    private void ReturnGradient(TWorker sender, NodeResult r)
    {
        if (r.Gradient is { } gradient && gradient.Length == _reducer.Buffers.Length && !Workers.InProcess(sender))
        {
            _reducer.Buffers.Return(gradient);
        }
    }
}

/// <summary>A star step in flight: its batch, the parameters its workers compute with, the results so far, and its timings.</summary>
internal sealed class StarStep<TWorker>(long step, int[] batch, float[] parameters, TimeSpan encodingAtStart)
    where TWorker : notnull
{
    public long Step { get; } = step;

    public int[] Batch { get; } = batch;

    /// <summary>The copy of the parameters its workers compute with (a pooled buffer, returned at commit).</summary>
    public float[] Parameters { get; } = parameters;

    public Dictionary<int, (TreeNode Node, float[] Gradient, double Loss)> Done { get; } = new();

    /// <summary>Answers of nodes being verified that wait for agreement, by node and digest.</summary>
    public Dictionary<(int Start, ulong Digest), (float[] Gradient, double Loss)> Held { get; } = new();

    public Dictionary<TWorker, double> ComputeBy { get; } = new();

    public TimeSpan EncodingAtStart { get; } = encodingAtStart;

    public long AssignedAt { get; set; }

    public void Computed(TWorker worker, double milliseconds) => ComputeBy[worker] = ComputeBy.GetValueOrDefault(worker) + milliseconds;
}

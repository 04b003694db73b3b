using CnnCluster.Security;
using CnnCluster.Coordinator.Cluster;
using CnnCluster.Coordinator.Runs.Workers;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Runs.Steps;

/// <summary>
/// What the star and sharded executions share: the scheduler of who computes which nodes, the workers
/// leaving a run (lost, left out, quarantined), the strikes against a worker whose results fail, and
/// the tick. Each execution says what leaving means for its step (<see cref="Left"/>) and how nodes
/// are sent (<see cref="Send"/>).
/// </summary>
public abstract class StepExecution<TWorker>(StepContext<TWorker> context) : IStepExecution<TWorker>
    where TWorker : notnull
{
    public const string NoWorkers = "no workers in the cluster: start one (src/Worker with CLUSTER_SEEDS pointing at this coordinator)";

    protected StepContext<TWorker> Context { get; } = context;

    protected StepScheduler<TWorker> Scheduler { get; } = new(context.Scheduling, context.Order);

    protected TrainingSession Session => Context.Session;

    protected RunWorkers<TWorker> Workers => Context.Workers;

    protected RunTelemetry Telemetry => Context.Telemetry;

    protected IRunLog Log => Context.Log;

    protected string RunId => Context.RunId;

    protected TimeSpan Now => Context.Now;

    public abstract long? InFlight { get; }

    public int WorkerCount => Scheduler.Workers.Count;

    public abstract long ParametersStep { get; }

    public bool ParametersCurrent => ParametersStep == Session.Step;

    public abstract string CurrentHash();

    public abstract StepDecision Begin();

    public abstract StepDecision Joined(TWorker worker, WorkerCapacity capacity);

    public abstract StepDecision Lost(TWorker worker, string reason);

    public abstract StepDecision LinkFailed(TWorker worker, string reason);

    public StepDecision Handle(TWorker sender, IProtocolMessage message) => message switch
    {
        WorkFailed f when f.RunId == RunId && f.Incarnation == Context.Incarnation => Failed(sender, f),
        WorkFailed => StepDecision.Pending,
        _ => HandleStep(sender, message),
    };

    public virtual StepDecision Tick()
    {
        if (InFlight is null)
        {
            return StepDecision.Pending;
        }

        return Send(Scheduler.Tick(Now)).Or(Orphaned());
    }

    public abstract void Abandon();

    public virtual NodeTraffic[]? NodeTraffic() => null;

    /// <summary>A message of this execution's own protocol.</summary>
    protected abstract StepDecision HandleStep(TWorker sender, IProtocolMessage message);

    /// <summary>Sends nodes of the step in flight (a plan, a lost worker's, a late one's second copy).</summary>
    protected abstract StepDecision Send(IReadOnlyList<Dispatch<TWorker>> dispatches);

    /// <summary>What the worker's leaving does to the step (<paramref name="moved"/>: its nodes, for others now).</summary>
    protected abstract StepDecision Left(TWorker worker, IReadOnlyList<Dispatch<TWorker>> moved, string why);

    /// <summary>True while the worker takes part in the run's steps (its strikes can quarantine it).</summary>
    protected virtual bool TakesPart(TWorker worker) => Scheduler.Workers.Contains(worker);

    /// <summary>The worker cannot compute what it was sent.</summary>
    protected virtual StepDecision Failed(TWorker worker, WorkFailed f)
    {
        Log.Warning($"run {RunId}: worker {Context.Name(worker)} cannot compute and is left out of this run: {TerminalText.Safe(f.Reason)}");
        return LeaveOut(worker, $"worker {Context.Name(worker)} left out");
    }

    /// <summary>The worker stays in the cluster but gets no more of this run's work.</summary>
    protected StepDecision LeaveOut(TWorker worker, string why)
    {
        Workers.Remove(worker);
        return Left(worker, Scheduler.Exclude(worker, Now), why);
    }

    /// <summary>
    /// A worker's result failed (refused, outvoted, a part refused): at the second failure it is
    /// quarantined, in this run and in the directory (no run gives it work; `pbm worker list` shows why),
    /// until its node rejoins. True (with what its leaving did) when it was quarantined.
    /// </summary>
    protected bool Strike(TWorker worker, string reason, out StepDecision left)
    {
        left = StepDecision.Pending;
        int strikes = Workers.Strike(worker);
        if (strikes < 2 || !TakesPart(worker))
        {
            return false;
        }

        string why = $"quarantined after {strikes} failed results (last: {reason})";
        Log.Error($"run {RunId}: worker {Context.Name(worker)} {why}");
        Context.Quarantine(worker, Session.Step + 1, why);
        left = LeaveOut(worker, $"worker {Context.Name(worker)} quarantined");
        return true;
    }

    /// <summary>Waits when the step in flight has nodes no worker computes.</summary>
    protected StepDecision Orphaned() =>
        InFlight is long step && Scheduler.Orphans > 0
            ? StepDecision.Waiting($"step {step}: all workers lost; {Scheduler.Orphans} node(s) wait for a worker")
            : StepDecision.Pending;
}

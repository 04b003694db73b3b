using CnnCluster.Engine.Training;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Runs.Steps;

/// <summary>What the run does after its step execution handled something.</summary>
public enum StepStatus
{
    /// <summary>Nothing for the run to do: the step goes on (or there is none).</summary>
    Pending,

    /// <summary>Work went out: the run is running (again).</summary>
    Working,

    /// <summary>What the next step waited for is there (its members' replicas are made): the run begins it.</summary>
    Resume,

    /// <summary>The step is committed (<see cref="StepDecision.Report"/>): the run records it and begins the next.</summary>
    Committed,

    /// <summary>The step was abandoned, to run again whole from its start (a new membership): begin it again.</summary>
    Restart,

    /// <summary>Nothing to compute with (<see cref="StepDecision.Reason"/>): the run waits and says why.</summary>
    Wait,

    /// <summary>The run cannot go on (<see cref="StepDecision.Failure"/>, <see cref="StepDecision.Reason"/>): it ends as failed.</summary>
    Fail,

    /// <summary>The run's state after its step is nowhere any more (every replica lost): it continues from its last snapshot.</summary>
    Rewind,
}

/// <summary>A step execution's answer to the run: a status and what goes with it.</summary>
public readonly record struct StepDecision(StepStatus Status, string? Reason = null, StepReport? Report = null, string? Hash = null, RunFailure Failure = RunFailure.Error)
{
    public static StepDecision Pending => default;

    public static StepDecision Working => new(StepStatus.Working);

    public static StepDecision Waiting(string reason) => new(StepStatus.Wait, reason);

    public static StepDecision Resuming => new(StepStatus.Resume);

    public static StepDecision Restarting(string reason) => new(StepStatus.Restart, reason);

    public static StepDecision Failing(string reason, RunFailure failure = RunFailure.Error) => new(StepStatus.Fail, reason, Failure: failure);

    public static StepDecision Rewinding(string reason) => new(StepStatus.Rewind, reason);

    /// <summary>The step is in; <paramref name="hash"/> when the execution knows it (the replicas'), else the run hashes its own parameters.</summary>
    public static StepDecision Committing(StepReport report, string? hash = null) => new(StepStatus.Committed, Report: report, Hash: hash);

    /// <summary>Of two decisions in one handling, the one that matters more to the run (a wait over work sent, work sent over nothing).</summary>
    public StepDecision Or(StepDecision later) => later.Status > Status ? later : this;
}

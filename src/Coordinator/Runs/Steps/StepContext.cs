using CnnCluster.Coordinator.Runs.Workers;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.DataPlane;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Runs.Steps;

/// <summary>Where a run's messages about its steps are written (the actor's log; a list in tests).</summary>
public interface IRunLog
{
    void Info(string line);

    void Warning(string line);

    void Error(string line);
}

/// <summary>
/// What a step execution works with: the run's identity and session, its workers, its counters, the
/// clock and the ports it needs of the actor around it (a log, the directory's quarantine). No actor
/// system: the executions are tested with plain workers and a list for a log.
/// </summary>
public sealed record StepContext<TWorker>(
    string RunId,
    long Incarnation,
    RunConfig Config,
    string DataFingerprint,
    TrainingSession Session,
    RunWorkers<TWorker> Workers,
    RunTelemetry Telemetry,
    IRunLog Log,
    Func<TimeSpan> Clock,
    IComparer<TWorker> Order,
    SchedulerSettings Scheduling)
    where TWorker : notnull
{
    /// <summary>A worker's name in logs and reports (an actor's path).</summary>
    public Func<TWorker, string> Name { get; init; } = w => w.ToString()!;

    /// <summary>
    /// A worker is quarantined at a step: the run journals it and tells the directory (no run gives it work
    /// until its node rejoins).
    /// </summary>
    public Action<TWorker, long, string> Quarantine { get; init; } = (_, _, _) => { };

    /// <summary>This coordinator's data-plane bytes (a sharded run's own node in its traffic).</summary>
    public DataTraffic DataTraffic { get; init; } = new();

    public TimeSpan Now => Clock();
}

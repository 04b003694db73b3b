using System.Diagnostics;
using CnnCluster.Coordinator.Telemetry;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Runs;

/// <summary>
/// What a run counts of its steps: the time of each phase (<see cref="StepPhaseLog"/>, also to the
/// process's meters), the messages that went out and came back, and what checking the results found.
/// The step executions add to it; the run reports it at the end (<see cref="Traffic"/>). Single-threaded, no actors.
/// </summary>
public sealed class RunTelemetry(bool meters = true)
{
    private long _lastStepStart;
    private readonly StepCpu _cpu = new();

    public StepPhaseLog Phases { get; } = new(meters ? ClusterMeters.PhaseTimed : null);

    public long Assignments;
    public long Results;
    public long Reassigned;
    public long Speculative;
    public long Stale;

    /// <summary>Steps committed by replicas (a sharded run's steps, which the data plane's bytes are counted over).</summary>
    public long ShardedSteps;

    public long Refused;
    public long Verified;
    public long Disagreements;

    /// <summary>A step begins: the time since the last one began is the last step's; returns now.</summary>
    public long StepBegins()
    {
        long start = Stopwatch.GetTimestamp();
        if (_lastStepStart != 0)
        {
            Phases.Add(StepPhase.Step, Stopwatch.GetElapsedTime(_lastStepStart, start));
        }

        _cpu.StepBegins();
        _lastStepStart = start;
        return start;
    }

    /// <summary>This process's CPU time per step (every thread) from the first step this incarnation began to the last (<see cref="StepCpu"/>).</summary>
    public double CpuMicrosecondsPerStep => _cpu.MicrosecondsPerStep;

    /// <summary>
    /// A step's nodes are in: of the time since it was assigned, the slowest worker's compute, the encoding
    /// for it (<paramref name="encoding"/>, none in a sharded step: the replicas encode) and the rest on the way.
    /// </summary>
    public void NodesIn(long assignedAt, double computeMicroseconds, double encodingMicroseconds = 0, bool encodingPhase = false)
    {
        double waited = Stopwatch.GetElapsedTime(assignedAt).TotalMicroseconds;
        Phases.Add(StepPhase.Compute, computeMicroseconds);
        if (encodingPhase)
        {
            Phases.Add(StepPhase.Serialize, encodingMicroseconds);
        }

        Phases.Add(StepPhase.Transfer, Math.Max(0, waited - computeMicroseconds - encodingMicroseconds));
    }

    /// <summary>
    /// What crossed the wire for the run, with the phases' figures and (sharded) each node's bytes; the checks'
    /// counts are this incarnation's, the workers <paramref name="quarantined"/> the run's (its journal keeps them).
    /// </summary>
    public RunTraffic Traffic(long bytesSent, long bytesReceived, NodeTraffic[]? nodes, string[] quarantined) =>
        new RunTraffic(Assignments, bytesSent, Results, bytesReceived, Reassigned, Speculative, Stale, Phases.Figures(), nodes)
        {
            Checks = new ResultChecks(Refused, Verified, Disagreements, quarantined),
        };
}

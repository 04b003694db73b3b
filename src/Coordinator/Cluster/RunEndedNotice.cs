using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Cluster;

/// <summary>Run → registry (local): the run has ended and needs no restart.</summary>
public sealed record RunEndedNotice(string RunId, string Status, long Step, double? TestAccuracy);

/// <summary>Run → registry (local): its store failed and it stops until its supervisor starts it again; its last status, as "paused".</summary>
public sealed record RunPaused(string RunId, RunStatus Status);

/// <summary>Run → registry (local): it wrote to its store again (after a pause, or once per incarnation).</summary>
public sealed record RunStoreWorks(string RunId);

/// <summary>How a run starts: fresh, or from another run's parameters (a fork).</summary>
public sealed record RunOrigin(string? ForkedFrom, long ForkedFromSnapshot, float[]? Parameters)
{
    public static readonly RunOrigin Fresh = new(null, 0, null);
}

namespace CnnCluster.Coordinator.Cluster;

/// <summary>Run → registry (local): the run has ended and needs no restart.</summary>
public sealed record RunEndedNotice(string RunId, string Status);

/// <summary>How a run starts: fresh, or from another run's parameters (a fork).</summary>
public sealed record RunOrigin(string? ForkedFrom, long ForkedFromSnapshot, float[]? Parameters)
{
    public static readonly RunOrigin Fresh = new(null, 0, null);
}

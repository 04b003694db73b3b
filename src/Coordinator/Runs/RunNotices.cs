using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Runs;

// Local messages between a run and the registry that supervises it (never cross the network).

/// <summary>Run → registry: the run has ended and needs no restart.</summary>
public sealed record RunEndedNotice(string RunId, RunOutcome Outcome, long Step, double? TestAccuracy);

/// <summary>Run → registry: its store failed and it stops until its supervisor starts it again; its last status, as paused.</summary>
public sealed record RunPaused(string RunId, RunStatus Status);

/// <summary>Run → registry: it wrote to its store again (after a pause, or once per incarnation).</summary>
public sealed record RunStoreWorks(string RunId);

/// <summary>Run → registry: it has ended and is idle (or was resumed): stop this incarnation; the next message starts the next.</summary>
public sealed record RunIdle(string RunId);

/// <summary>How a run starts: fresh, or from another run's parameters (a fork).</summary>
public sealed record RunOrigin(string? ForkedFrom, long ForkedFromSnapshot, float[]? Parameters)
{
    public static readonly RunOrigin Fresh = new(null, 0, null);
}

/// <summary>What a run actor is started with and never changes: the run, where it comes from, its data, and the directory of workers it asks.</summary>
public sealed record RunSetup(string RunId, RunConfig Config, RunOrigin Origin, RunData Data, Akka.Actor.IActorRef Directory)
{
    /// <summary>This incarnation of the run: messages of an earlier one (a worker's late result) are told apart by it.</summary>
    public long Incarnation { get; } = Random.Shared.NextInt64(1, long.MaxValue);

    /// <summary>An ended run idle this long asks to be passivated (null: never).</summary>
    public TimeSpan? PassivateAfter { get; init; }
}

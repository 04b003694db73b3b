namespace CnnCluster.Coordinator.Registry;

/// <summary>
/// Where the coordinator finds its data, how many threads evaluate, and whether it resumes every
/// unfinished run when it starts (a `serve` node does; the one-run `train` command does not, so an
/// earlier interrupted run does not compete with the new one for workers).
/// </summary>
public sealed record CoordinatorOptions(string? DataDirectory, int EvaluationThreads, bool ResumeUnfinished = true)
{
    /// <summary>How long an ended run's actor stays after its last query (it answers from its journal when asked again).</summary>
    public TimeSpan PassivateEndedAfter { get; init; } = TimeSpan.FromSeconds(30);
}

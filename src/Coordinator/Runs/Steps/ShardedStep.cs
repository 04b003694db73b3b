using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Runs.Steps;

/// <summary>A sharded step in flight: which it is, its batch's size, its members' progress, the slowest compute so far.</summary>
internal sealed class ShardedStep<TWorker>(StepRef about, int batchSize, ShardedStepProgress<TWorker> progress)
    where TWorker : notnull
{
    public StepRef Ref { get; } = about;

    public long Step => Ref.Step;

    public int BatchSize { get; } = batchSize;

    public ShardedStepProgress<TWorker> Progress { get; } = progress;

    public Dictionary<TWorker, double> ComputeBy { get; } = new();

    /// <summary>Workers struck during this step (once each).</summary>
    public HashSet<TWorker> Struck { get; } = new();

    public long AssignedAt { get; set; }

    /// <summary>Who was given which nodes by the step's plan (a step planned ahead is begun only if the scheduler still plans so).</summary>
    public IReadOnlyList<Dispatch<TWorker>> Dispatches { get; init; } = [];
}

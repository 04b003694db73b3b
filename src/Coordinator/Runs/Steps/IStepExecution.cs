using CnnCluster.Coordinator.Cluster;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Runs.Steps;

/// <summary>
/// How a run's steps are computed and reduced (Horovod's swappable operation): the run hands it the
/// workers' news and their messages and acts on the <see cref="StepDecision"/> it gets back, never
/// asking which execution it talks to. Every check of "may this sender say this now" lives here, in the
/// one that knows the step. Made once per run by <see cref="StepExecutions.For{TWorker}"/>.
/// </summary>
public interface IStepExecution<TWorker>
    where TWorker : notnull
{
    /// <summary>The step in flight (the one being computed), or null between steps.</summary>
    long? InFlight { get; }

    /// <summary>The workers that compute the run's steps now.</summary>
    int WorkerCount { get; }

    /// <summary>The step the session's parameters belong to: the run's (always in a star), or an earlier one in a sharded run between captures.</summary>
    long ParametersStep { get; }

    /// <summary>True when the session's parameters are the run's.</summary>
    bool ParametersCurrent { get; }

    /// <summary>The hash of the run's parameters after its last committed step.</summary>
    string CurrentHash();

    /// <summary>Begins the next step (the run has steps left and none in flight).</summary>
    StepDecision Begin();

    StepDecision Joined(TWorker worker, WorkerCapacity capacity);

    /// <summary>The worker is gone (its node left or is unreachable).</summary>
    StepDecision Lost(TWorker worker, string reason);

    /// <summary>The worker's data plane failed.</summary>
    StepDecision LinkFailed(TWorker worker, string reason);

    /// <summary>A message of the step protocol from <paramref name="sender"/>.</summary>
    StepDecision Handle(TWorker sender, IProtocolMessage message);

    /// <summary>The run's periodic tick: late nodes go to other workers, deadlines pass.</summary>
    StepDecision Tick();

    /// <summary>The run ends with a step in flight: its buffers go back, nothing of it counts.</summary>
    void Abandon();

    /// <summary>Each node's data-plane bytes (a sharded run), or null.</summary>
    NodeTraffic[]? NodeTraffic();
}

/// <summary>The one place that decides how a run's steps are executed.</summary>
public static class StepExecutions
{
    public static IStepExecution<TWorker> For<TWorker>(StepContext<TWorker> context)
        where TWorker : notnull => context.Config.Reduction switch
    {
        Reduction.Sharded => new ShardedExecution<TWorker>(context),
        _ => new StarExecution<TWorker>(context),
    };
}

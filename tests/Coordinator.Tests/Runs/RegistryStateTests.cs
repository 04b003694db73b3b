using CnnCluster.Coordinator.Registry;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.Protocol;
using Xunit;

namespace CnnCluster.Coordinator.Tests.Runs;

/// <summary>The registry's state given its events (no actor): runs, ends, resumes, and what it answers from them.</summary>
public sealed class RegistryStateTests
{
    private static readonly RunConfig Config = RunConfig.From(Presets.LeNet5, "lenet5", new TrainingOptions { Epochs = 1 }, 512);

    private static RegistryState Of(params IRegistryEvent[] events) => events.Aggregate(RegistryState.Empty, (s, e) => s.Updated(e));

    [Fact]
    public void RunsEndAndResumeAndThePhaseFollows()
    {
        RegistryState state = Of(new RunRegistered("b", Config, null, 0), new RunRegistered("a", Config, "b", 3), new RunClosed("b", "completed", 10, 0.9));

        Assert.Equal(["a", "b"], state.Runs.Keys);
        Assert.Equal(["a"], state.Unfinished.Select(r => r.RunId));
        Assert.Equal(RunPhase.Completed, state.PhaseOf("b", paused: false));
        Assert.Equal(RunPhase.Running, state.PhaseOf("a", paused: false));
        Assert.Equal(RunPhase.Paused, state.PhaseOf("a", paused: true));

        RunListEntry entry = state.Entry(state.Runs["b"], paused: false);
        Assert.Equal(("completed", 10L, 0.9), (entry.Status, entry.Step!.Value, entry.TestAccuracy!.Value));

        RegistryState failedThenResumed = state.Updated(new RunClosed("a", "failed", 4)).Updated(new RunResumed("a", "failed"));
        Assert.False(failedThenResumed.Ended("a"));
        Assert.Equal(RunPhase.Running, failedThenResumed.PhaseOf("a", paused: false));
    }

    [Fact]
    public void OnlyAStoppedOrFailedRunCanBeResumedAndTheRefusalSaysWhy()
    {
        RegistryState state = Of(new RunRegistered("done", Config, null, 0), new RunClosed("done", "completed"),
            new RunRegistered("live", Config, null, 0), new RunRegistered("stopped", Config, null, 0), new RunClosed("stopped", "stopped"));

        Assert.Null(state.ResumeRefusal("stopped", paused: false));
        Assert.StartsWith("run 'done' completed: nothing to resume", state.ResumeRefusal("done", paused: false));
        Assert.Equal("run 'live' has not ended (running): nothing to resume", state.ResumeRefusal("live", paused: false));
        Assert.StartsWith("run 'live' has not ended (paused", state.ResumeRefusal("live", paused: true));
        Assert.Equal("no run 'x'; known runs: done, live, stopped", state.ResumeRefusal("x", paused: false));
    }
}

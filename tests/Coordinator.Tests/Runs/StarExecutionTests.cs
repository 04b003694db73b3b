using CnnCluster.Coordinator.Runs.Steps;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.Protocol;
using Xunit;

namespace CnnCluster.Coordinator.Tests.Runs;

/// <summary>
/// The star execution given messages, without an actor system (<see cref="ExecutionBench"/>): its
/// decisions, and the engine's bits after every step whatever was lost, refused or late on the way.
/// </summary>
public sealed class StarExecutionTests
{
    private const int Steps = 3;
    private static readonly RunConfig Config = RunConfig.From(Presets.LeNet5, "lenet5",
        new TrainingOptions { Epochs = 10, MaxSteps = Steps, BatchSize = ExecutionBench.Batch, ShardSize = 8, Seed = 5 }, null);

    private static readonly Lazy<string[]> Engine = new(() => ExecutionBench.EngineHashes(Config, Steps));

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    [InlineData(3, 3)]
    public void WorkersCommitTheEnginesBitsEveryStep(int workers, int seed)
    {
        var bench = new ExecutionBench(Config, seed);
        bench.Join(workers);
        bench.RunToEnd();

        Assert.Equal(Engine.Value, bench.Hashes);
        Assert.Equal(StepStatus.Working, bench.Decisions[workers].Status); // the first step's assignment, once every worker joined
        Assert.Equal(Steps, bench.Decisions.Count(d => d.Status == StepStatus.Committed));
        Assert.Equal(workers * Steps, bench.Sent.Count);
        Assert.True(bench.Sent.All(s => s.Message is WorkAssignment { RunId: "r", Incarnation: 7 }));
    }

    [Fact]
    public void WithoutWorkersItWaitsAndSaysWhy()
    {
        var bench = new ExecutionBench(Config);
        bench.Advance();
        Assert.Equal(StepStatus.Wait, bench.Last.Status);
        Assert.Equal(StepExecution<string>.NoWorkers, bench.Last.Reason);
        Assert.Null(bench.Execution.InFlight);
    }

    [Fact]
    public void ALostWorkersNodesMoveInTheSameStepAndTheBitsStayTheEngines()
    {
        var bench = new ExecutionBench(Config, seed: 4) { Fault = (w, m) => w == "w1" ? null : m }; // w1 never answers
        bench.Join(2);
        bench.Advance();
        bench.DeliverUntil(() => false);
        Assert.Equal(1, bench.Telemetry.Results);
        int sent = bench.Sent.Count;
        bench.Lose("w1");

        Assert.Equal(0, bench.Execution.InFlight);
        Assert.True(bench.Sent.Count > sent, "the lost worker's nodes went to the other");
        Assert.All(bench.Sent.Skip(sent), s => Assert.Equal("w0", s.Worker));
        bench.DeliverUntil(() => bench.Session.Finished && bench.Execution.InFlight is null);
        Assert.Equal(Engine.Value, bench.Hashes);
    }

    [Fact]
    public void LosingEveryWorkerMidStepWaitsUntilOneJoins()
    {
        var bench = new ExecutionBench(Config, seed: 5);
        bench.Join(2);
        bench.Advance();
        bench.Lose("w0");
        bench.Lose("w1");
        Assert.Equal(StepStatus.Wait, bench.Last.Status);
        Assert.StartsWith("step 0: all workers lost", bench.Last.Reason);

        bench.Join(1, first: 2);
        Assert.Equal(StepStatus.Working, bench.Last.Status);
        bench.DeliverUntil(() => bench.Session.Finished && bench.Execution.InFlight is null);
        Assert.Equal(Engine.Value, bench.Hashes);
    }

    [Fact]
    public void ARefusedResultIsComputedElsewhereAndTheSecondQuarantinesItsWorker()
    {
        var bench = new ExecutionBench(Config, seed: 6)
        {
            Fault = (w, m) => w == "w1" && m is NodeResult r ? r with { Gradient = [.. r.Gradient.Take(10)] } : m,
        };
        bench.Join(3);
        bench.RunToEnd();

        Assert.Equal(Engine.Value, bench.Hashes);
        Assert.Equal(["w1"], bench.Quarantined);
        Assert.True(bench.Telemetry.Refused >= 2);
        Assert.Contains(bench.Log.Lines, l => l.StartsWith("error: run r: worker w1 quarantined after 2 failed results", StringComparison.Ordinal));
        Assert.Equal(2, bench.Execution.WorkerCount);
    }

    [Fact]
    public void AResultOfAnotherStepRunOrIncarnationDoesNotCount()
    {
        var bench = new ExecutionBench(Config, seed: 7)
        {
            Fault = (w, m) => m is NodeResult r && r.Node.Start == 0 ? r with { Incarnation = 8 } : m,
        };
        bench.Join(2);
        bench.Advance();
        bench.DeliverUntil(() => false);

        Assert.Equal(0, bench.Execution.InFlight); // node 0 never counted: the step waits for it
        Assert.Equal(1, bench.Telemetry.Stale);
        Assert.Empty(bench.Hashes);
    }

    [Fact]
    public void ALateNodeGoesToAnotherWorkerAfterItsDeadlineAndTheFirstAnswerWins()
    {
        var bench = new ExecutionBench(Config, seed: 8);
        bench.Join(2);
        bench.Advance();
        List<IProtocolMessage> held = new();
        bench.Fault = (w, m) =>
        {
            if (w == "w1")
            {
                held.Add(m);
                return null;
            }

            return m;
        };
        bench.DeliverUntil(() => false);
        bench.Now += TimeSpan.FromSeconds(30);
        bench.Tick();

        Assert.Equal(StepStatus.Working, bench.Last.Status);
        Assert.Equal(1, bench.Telemetry.Speculative);
        bench.Fault = (_, m) => m;
        bench.DeliverUntil(() => bench.Hashes.Count == 1);
        Assert.Equal(Engine.Value[0], bench.Hashes[0]);
    }

    [Fact]
    public void ALossThatOverflowsInTheSumFailsTheRunAsDiverged()
    {
        var bench = new ExecutionBench(Config, seed: 9)
        {
            Fault = (_, m) => m is NodeResult r ? r with { LossSum = double.MaxValue } : m,
        };
        bench.Join(2);
        bench.RunToEnd();

        Assert.Equal(StepStatus.Fail, bench.Last.Status);
        Assert.Equal(RunFailure.Diverged, bench.Last.Failure);
        Assert.Empty(bench.Hashes);
    }

    [Fact]
    public void AFailedLinkSendsTheWorkersNodesAgainThroughAkka()
    {
        var bench = new ExecutionBench(Config, seed: 10);
        bench.Join(2);
        bench.Advance();
        int sent = bench.Sent.Count;
        bench.Apply(bench.Execution.LinkFailed("w1", "link reset"));

        Assert.Equal(StepStatus.Working, bench.Last.Status);
        Assert.Equal(Coordinator.Runs.Workers.ChannelKind.Akka, bench.Workers.Channel("w1")!.Kind);
        Assert.True(bench.Sent.Count > sent, "what w1 was computing was sent again");
        bench.DeliverUntil(() => bench.Session.Finished && bench.Execution.InFlight is null);
        Assert.Equal(Engine.Value, bench.Hashes);
    }

    [Fact]
    public void ResultsThatAreNotFiniteOnTheCoordinatorTooAreDivergenceAndNoWorkerIsStruck()
    {
        // a linear least-squares model with a far too large step grows geometrically to infinity
        RunConfig linear = RunConfig.From(ModelSpecJson.Parse("""{ "loss": "mean_squared_error", "layers": [ { "type": "dense", "out": 10 } ] }"""), "linear",
            new TrainingOptions { Epochs = 10, MaxSteps = 60, BatchSize = ExecutionBench.Batch, ShardSize = 8, Seed = 5, LearningRate = 10 }, null);
        var bench = new ExecutionBench(linear, seed: 11);
        bench.Join(2);
        bench.RunToEnd();

        StepDecision failed = bench.Last;
        Assert.Equal(StepStatus.Fail, failed.Status);
        Assert.Equal(RunFailure.Diverged, failed.Failure);
        Assert.StartsWith("training diverged at step", failed.Reason);
        Assert.True(bench.Hashes.Count >= 1, "it trained a few steps first");
        Assert.Empty(bench.Quarantined);
        Assert.Equal(0, bench.Telemetry.Refused);
    }

    [Fact]
    public void ANonFiniteResultThatTheCoordinatorComputesFinitelyStrikesItsWorker()
    {
        var bench = new ExecutionBench(Config, seed: 12)
        {
            Fault = (w, m) => w == "w1" && m is NodeResult r ? r with { LossSum = double.PositiveInfinity } : m,
        };
        bench.Join(3);
        bench.RunToEnd();

        Assert.Equal(Engine.Value, bench.Hashes);
        Assert.Equal(["w1"], bench.Quarantined);
        Assert.DoesNotContain(bench.Decisions, d => d.Status == StepStatus.Fail);
    }
}

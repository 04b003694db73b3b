using Akka.Actor;
using Akka.TestKit;
using CnnCluster.Coordinator.Cluster;
using CnnCluster.Coordinator.Runs;
using CnnCluster.Coordinator.Runs.Steps;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.Protocol;
using CnnCluster.Worker;
using Xunit;

namespace CnnCluster.Coordinator.Tests;

/// <summary>
/// The run actor's behaviours with probe workers: the probes compute real results with a
/// <see cref="WorkerEngine"/>, or misbehave on purpose, and the final parameters must still be the
/// engine's, bit for bit.
/// </summary>
public sealed class TrainingRunSpecs : Akka.TestKit.Xunit2.TestKit
{
    private const int Steps = 3;
    private static readonly Lazy<RunData> Data = new(() => RunData.For(null, 512));
    private static readonly RunConfig Config = RunConfig.From(
        Presets.LeNet5, "lenet5", new TrainingOptions { Epochs = 1, MaxSteps = Steps, BatchSize = 64, ShardSize = 8, Seed = 5 }, 512);

    private static readonly Lazy<string> EngineHash = new(() =>
    {
        using var trainer = new Trainer(Network.Build(Presets.LeNet5), Config.ToTrainingOptions(1), Data.Value.Train, Data.Value.Test);
        trainer.Run();
        return ParameterHash.Of(trainer.Parameters);
    });

    private readonly WorkerEngine _engine = new(1, null);
    private readonly TestProbe _directory;
    private readonly TestProbe _w1;
    private readonly TestProbe _w2;

    public TrainingRunSpecs()
        : base("""
            akka.loglevel = WARNING
            akka.persistence.journal.plugin = "akka.persistence.journal.inmem"
            akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.inmem"
            """)
    {
        _directory = CreateTestProbe("directory");
        _w1 = CreateTestProbe("worker-1");
        _w2 = CreateTestProbe("worker-2");
    }

    [Fact]
    public void SplitsStepsIntoAlignedNodesAndCommitsTheEnginesParameters()
    {
        IActorRef run = Start(_w1, _w2);
        for (int step = 0; step < Steps; step++)
        {
            WorkAssignment a1 = _w1.ExpectMsg<WorkAssignment>();
            WorkAssignment a2 = _w2.ExpectMsg<WorkAssignment>();
            Assert.Equal(step, a1.Step);

            // 8 micro-shards, equal threads: [0,4) and [4,8), one node each
            Assert.Equal([new TreeNode(0, 2)], a1.Nodes);
            Assert.Equal([new TreeNode(4, 2)], a2.Nodes);
            Reply(a1, run, _w1);
            Reply(a2, run, _w2);
            Assert.Equal(step + 1, ExpectMsg<StepCommitted>().Step);
        }

        ExpectMsg<EpochCompleted>();
        Assert.Equal(EngineHash.Value, ExpectMsg<RunFinished>().ParamSha256);
    }

    [Fact]
    public void ALostWorkersNodesMoveToAnotherWorkerInTheSameStep()
    {
        IActorRef run = Start(_w1, _w2);
        WorkAssignment a1 = _w1.ExpectMsg<WorkAssignment>();
        _w2.ExpectMsg<WorkAssignment>();
        Reply(a1, run, _w1);
        run.Tell(new WorkerLost(_w2.Ref, "killed in a test"));

        WorkAssignment moved = _w1.ExpectMsg<WorkAssignment>();
        Assert.Equal(0, moved.Step);
        Assert.Equal([new TreeNode(4, 2)], moved.Nodes);
        Reply(moved, run, _w1);
        ExpectMsg<StepCommitted>();
        FinishWith(run, _w1);
    }

    [Fact]
    public void StaleAndForeignResultsAreDropped()
    {
        IActorRef run = Start(_w1);
        WorkAssignment a = _w1.ExpectMsg<WorkAssignment>();
        var garbage = new float[a.Parameters.Length];
        Array.Fill(garbage, 1e6f);
        run.Tell(new NodeResult(a.RunId, a.Incarnation, a.Step + 1, a.Nodes[0], 1, garbage, 0));
        run.Tell(new NodeResult(a.RunId, a.Incarnation + 1, a.Step, a.Nodes[0], 1, garbage, 0));
        run.Tell(new NodeResult("other-run", a.Incarnation, a.Step, a.Nodes[0], 1, garbage, 0));
        run.Tell(new NodeResult(a.RunId, a.Incarnation, a.Step, new TreeNode(a.Nodes[0].Start, a.Nodes[0].Level + 1), 1, garbage, 0));
        ExpectNoMsg(TimeSpan.FromMilliseconds(200));

        Reply(a, run, _w1);
        ExpectMsg<StepCommitted>();
        RunFinished finished = FinishWith(run, _w1);
        Assert.Equal(4, finished.Traffic.StaleDropped);
    }

    [Fact]
    public void ALateNodeIsAlsoGivenToAnotherWorkerAndTheFirstAnswerWins()
    {
        IActorRef run = Start(_w1, _w2);
        WorkAssignment a1 = _w1.ExpectMsg<WorkAssignment>();
        WorkAssignment a2 = _w2.ExpectMsg<WorkAssignment>();
        Reply(a1, run, _w1);

        // w2 stays silent past the deadline (at least 1 s): its node goes to w1 as well
        WorkAssignment duplicate = _w1.ExpectMsg<WorkAssignment>(TimeSpan.FromSeconds(60));
        Assert.Equal(a2.Nodes, duplicate.Nodes);
        Reply(duplicate, run, _w1);
        ExpectMsg<StepCommitted>();

        // w2's answer arrives after all: dropped, the run goes on from w1's
        Reply(a2, run, _w2);
        _w2.IgnoreMessages(_ => true);
        RunFinished finished = FinishWith(run, _w1);
        Assert.True(finished.Traffic.Speculative >= 1);
        Assert.True(finished.Traffic.StaleDropped >= 1);
    }

    [Fact]
    public void WithoutWorkersTheRunWaitsAndSaysSoThenGoesOnWhenOneJoins()
    {
        IActorRef run = Start();
        Assert.Contains("no workers", ExpectMsg<RunWaiting>().Reason);
        _w1.ExpectNoMsg(TimeSpan.FromMilliseconds(100));

        run.Tell(new WorkerJoined(_w1.Ref, new WorkerCapacity(1)));
        FinishWith(run, _w1);
    }

    [Fact]
    public void AWorkerThatCannotComputeIsLeftOutAndItsNodesMove()
    {
        IActorRef run = Start(_w1, _w2);
        WorkAssignment a1 = _w1.ExpectMsg<WorkAssignment>();
        WorkAssignment a2 = _w2.ExpectMsg<WorkAssignment>();
        run.Tell(new WorkFailed(a2.RunId, a2.Incarnation, a2.Step, "no data here"), _w2.Ref);
        Reply(a1, run, _w1);
        WorkAssignment moved = _w1.ExpectMsg<WorkAssignment>();
        Assert.Equal(a2.Nodes, moved.Nodes);
        Reply(moved, run, _w1);
        ExpectMsg<StepCommitted>();
        FinishWith(run, _w1);
        _w2.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    [Theory]
    [InlineData("nan")]
    [InlineData("infinite-loss")]
    [InlineData("short")]
    public void ARefusedResultIsComputedElsewhereAndASecondFailureQuarantinesItsWorker(string fault)
    {
        IActorRef run = Start(_w1, _w2);
        for (int step = 0; step < 2; step++)
        {
            WorkAssignment a1 = _w1.ExpectMsg<WorkAssignment>();
            WorkAssignment a2 = _w2.ExpectMsg<WorkAssignment>();
            Reply(a1, run, _w1);
            _engine.Compute(a2, r => run.Tell(Broken(r, fault), _w2.Ref));

            // w2's node is computed again by w1, in the same step
            WorkAssignment again = _w1.ExpectMsg<WorkAssignment>();
            Assert.Equal(a2.Nodes, again.Nodes);
            Reply(again, run, _w1);
            Assert.Equal(step + 1, ExpectMsg<StepCommitted>().Step);
        }

        // the second failure quarantines w2: the directory is told, and it gets no more work
        Assert.Equal(_w2.Ref, _directory.ExpectMsg<QuarantineWorker>().Worker);
        RunFinished finished = FinishWith(run, _w1);
        _w2.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        Assert.Equal(2, finished.Traffic.Checks!.Refused);
        Assert.Equal([_w2.Ref.Path.ToString()], finished.Traffic.Checks.Quarantined);
    }

    /// <summary>
    /// A quarantine is journaled: a run that restarts after it (a coordinator restart, or a sharded run rewound to a
    /// snapshot when every replica was lost) still names the worker in its summary.
    /// </summary>
    [Fact]
    public void AQuarantineIsJournaledAndTheRunsSummaryKeepsItAfterARestart()
    {
        IActorRef run = Start(_w1, _w2);
        for (int step = 0; step < 2; step++)
        {
            WorkAssignment a1 = _w1.ExpectMsg<WorkAssignment>();
            WorkAssignment a2 = _w2.ExpectMsg<WorkAssignment>();
            Reply(a1, run, _w1);
            _engine.Compute(a2, r => run.Tell(Broken(r, "nan"), _w2.Ref));
            Reply(_w1.ExpectMsg<WorkAssignment>(), run, _w1);
            Assert.Equal(step + 1, ExpectMsg<StepCommitted>().Step);
        }

        Assert.Equal(_w2.Ref, _directory.ExpectMsg<QuarantineWorker>().Worker);
        _w1.ExpectMsg<WorkAssignment>(); // the last step, never answered: the run stops with it in flight
        Watch(run);
        Sys.Stop(run);
        ExpectTerminated(run);

        RunFinished finished = FinishWith(Start(_w1), _w1);
        Assert.Equal(0, finished.Traffic.Checks!.Refused); // the counts are the new incarnation's
        Assert.Equal([_w2.Ref.Path.ToString()], finished.Traffic.Checks.Quarantined);
    }

    [Fact]
    public void AResultFromAWorkerThatWasNotGivenTheNodeDoesNotCount()
    {
        IActorRef run = Start(_w1, _w2);
        WorkAssignment a1 = _w1.ExpectMsg<WorkAssignment>();
        WorkAssignment a2 = _w2.ExpectMsg<WorkAssignment>();

        // w1 answers w2's node as well (right values, wrong sender): it waits for w2's own answer
        Reply(a2, run, _w1);
        Reply(a1, run, _w1);
        ExpectNoMsg(TimeSpan.FromMilliseconds(300));
        Reply(a2, run, _w2);
        Assert.Equal(1, ExpectMsg<StepCommitted>().Step);
    }

    [Fact]
    public void VerifiedNodesOutvoteAWorkerThatPerturbsItsResultsAndTheHashIsTheEngines()
    {
        // every node computed twice (--verify 1); w3 adds 1e-3 to one gradient value of every result
        TestProbe w3 = CreateTestProbe("worker-3");
        IActorRef run = Start(Config with { Verify = 1 }, _w1, _w2, w3);
        var answer = new Dictionary<TestProbe, Func<NodeResult, NodeResult>>
        {
            [_w1] = r => r,
            [_w2] = r => r,
            [w3] = r => Broken(r, "perturb"),
        };
        RunFinished finished = Drive(run, answer);
        Assert.Equal(EngineHash.Value, finished.ParamSha256);
        ResultChecks checks = finished.Traffic.Checks!;
        Assert.True(checks.Disagreements >= 2, $"{checks}");
        Assert.True(checks.Verified >= 3 * 2, $"{checks}");
        Assert.Equal([w3.Ref.Path.ToString()], checks.Quarantined);
        Assert.Equal(w3.Ref, _directory.ExpectMsg<QuarantineWorker>().Worker);
    }

    private static NodeResult Broken(NodeResult r, string fault) => FaultyWorker.Program.Break(r, fault);

    /// <summary>Every probe answers its assignments (through its function) until the run ends.</summary>
    private RunFinished Drive(IActorRef run, Dictionary<TestProbe, Func<NodeResult, NodeResult>> answer)
    {
        DateTime deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            bool idle = true;
            foreach ((TestProbe probe, Func<NodeResult, NodeResult> f) in answer)
            {
                if (probe.HasMessages && probe.ReceiveOne() is WorkAssignment a)
                {
                    idle = false;
                    _engine.Compute(a, r => run.Tell(f(r), probe.Ref));
                }
            }

            while (HasMessages)
            {
                idle = false;
                switch (ReceiveOne())
                {
                    case RunFinished finished:
                        return finished;
                    case StepCommitted or EpochCompleted or RunWaiting:
                        continue;
                    case var other:
                        Assert.Fail($"unexpected {other}");
                        break;
                }
            }

            if (idle)
            {
                Thread.Sleep(5);
            }
        }

        throw new TimeoutException("the run did not finish");
    }

    private IActorRef Start(params TestProbe[] workers) => Start(Config, workers);

    private IActorRef Start(RunConfig config, params TestProbe[] workers)
    {
        IActorRef run = Sys.ActorOf(TrainingRun.Props(new RunSetup("spec", config, RunOrigin.Fresh, Data.Value, _directory.Ref), 1, TestActor));
        _directory.ExpectMsg<SubscribeWorkers>();
        run.Tell(new WorkerSet(workers.ToDictionary(w => w.Ref, _ => new WorkerCapacity(1))));
        return run;
    }

    /// <summary>Lets one worker compute every remaining step; returns the end of the run (hash checked).</summary>
    private RunFinished FinishWith(IActorRef run, TestProbe worker)
    {
        RunFinished finished = Drive(run, new Dictionary<TestProbe, Func<NodeResult, NodeResult>> { [worker] = r => r });
        Assert.Equal(EngineHash.Value, finished.ParamSha256);
        return finished;
    }

    /// <summary>The probe computes the assignment with a real engine and answers as that worker.</summary>
    private void Reply(WorkAssignment a, IActorRef run, TestProbe from) => _engine.Compute(a, result => run.Tell(result, from.Ref));
}

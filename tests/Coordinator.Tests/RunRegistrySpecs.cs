using Akka.Actor;
using Akka.Persistence;
using CnnCluster.Coordinator.Cluster;
using CnnCluster.Coordinator.Registry;
using CnnCluster.Coordinator.Runs;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.Protocol;
using Xunit;

namespace CnnCluster.Coordinator.Tests;

/// <summary>
/// The run registry against bad names and bad journals: ids are checked before anything is journaled,
/// a journal entry it cannot start is skipped (the registry keeps answering), and an ended run's actor
/// passivates and answers again from its journal when asked.
/// </summary>
public sealed class RunRegistrySpecs : Akka.TestKit.Xunit2.TestKit
{
    private static readonly RunConfig Config = RunConfig.From(
        Presets.LeNet5, "lenet5", new TrainingOptions { Epochs = 1, MaxSteps = 3, BatchSize = 64, ShardSize = 8, Seed = 5 }, 512);

    public RunRegistrySpecs()
        : base("""
            akka.loglevel = WARNING
            akka.actor.provider = cluster
            akka.remote.dot-netty.tcp.hostname = 127.0.0.1
            akka.remote.dot-netty.tcp.port = 0
            akka.persistence.journal.plugin = "akka.persistence.journal.inmem"
            akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.inmem"
            """)
    {
    }

    [Theory]
    [InlineData("poison\n")]
    [InlineData("..")]
    [InlineData(".")]
    [InlineData(".hidden")]
    [InlineData("a/b")]
    [InlineData("$sys")]
    [InlineData("")]
    public async Task ABadRunIdIsRefusedBeforeItIsJournaledAndTheRegistryKeepsAnswering(string id)
    {
        IActorRef registry = Registry(TimeSpan.FromMinutes(1));
        RunRejected rejected = (await registry.Ask<RunRejected>(new SubmitRun(id, Config), TimeSpan.FromSeconds(20)));
        Assert.Contains("is not valid", rejected.Reason);
        Assert.DoesNotContain('\n', rejected.Reason);
        Assert.Empty((await registry.Ask<RunList>(new ListRuns(), TimeSpan.FromSeconds(20))).Runs);

        // and a new registry on the same journal recovers nothing from it
        Watch(registry);
        Sys.Stop(registry);
        await ExpectTerminatedAsync(registry);
        Assert.Empty((await Registry(TimeSpan.FromMinutes(1)).Ask<RunList>(new ListRuns(), TimeSpan.FromSeconds(20))).Runs);
    }

    /// <summary>What a member of the cluster could send straight to the registry, skipping pbm's and the command line's checks.</summary>
    public static TheoryData<string, RunConfig> OutOfRange => new()
    {
        { "snapshot every", Config with { SnapshotEvery = 0 } },
        { "keep snapshots", Config with { KeepSnapshots = -1 } },
        { "batch size", Config with { BatchSize = 0 } },
        { "shard size", Config with { ShardSize = int.MaxValue } },
        { "learning rate", Config with { LearningRate = double.NaN } },
        { "momentum", Config with { Momentum = 1 } },
        { "epochs", Config with { Epochs = 0 } },
        { "steps", Config with { MaxSteps = -5 } },
        { "limit", Config with { DataLimit = 0 } },
        { "verify", Config with { Verify = double.PositiveInfinity } },
        { "reduction", Config with { Reduction = (Reduction)7 } },
        { "model spec", Config with { ModelJson = new string(' ', (1 << 20) + 1) } },
        { "model's name", Config with { Model = null! } },
    };

    [Theory]
    [MemberData(nameof(OutOfRange))]
    public async Task AConfigOutOfRangeIsRefusedWhicheverWayItCameAndNothingIsJournaled(string field, RunConfig config)
    {
        IActorRef registry = Registry(TimeSpan.FromMinutes(1));
        RunRejected rejected = await registry.Ask<RunRejected>(new SubmitRun("bad", config), TimeSpan.FromSeconds(20));
        Assert.Contains(field, rejected.Reason);
        Assert.Empty((await registry.Ask<RunList>(new ListRuns(), TimeSpan.FromSeconds(20))).Runs);
    }

    [Fact]
    public async Task MessagesWithoutARunIdAreAnsweredAndTheRegistryKeepsItsState()
    {
        IActorRef registry = Registry(TimeSpan.FromMinutes(1));
        Assert.IsType<RunAccepted>(await registry.Ask<object>(new SubmitRun("good", Config), TimeSpan.FromSeconds(20)));
        foreach (object message in new object[] { new StopRun(null!), new RunStatusRequest(null!), new ExportRun(null!), new SubscribeRun(null!), new ListSnapshots(null!), new SubmitRun(null, null!) })
        {
            Assert.IsType<RunRejected>(await registry.Ask<object>(message, TimeSpan.FromSeconds(20)));
        }

        // a pause claimed by someone who is not one of its runs changes nothing
        registry.Tell(new RunPaused("good", new RunStatus("good", "lenet5", "paused", 0, 0, null, null, "", 0, null)), TestActor);
        RunStatus status = await registry.Ask<RunStatus>(new RunStatusRequest("good"), TimeSpan.FromSeconds(20));
        Assert.NotEqual("paused", status.State);
        Assert.Equal(["good"], (await registry.Ask<RunList>(new ListRuns(), TimeSpan.FromSeconds(20))).Runs.Select(r => r.RunId));
    }

    [Fact]
    public async Task AJournalEntryThatCannotStartIsSkippedAndTheOthersRecover()
    {
        // a journal written by an older version, which let a newline through
        IActorRef writer = Sys.ActorOf(Props.Create(() => new JournalWriter("run-registry", new object[]
        {
            new RunRegistered("poison\n", Config, null, 0),
            new RunRegistered("good", Config, null, 0),
            new RunClosed("good", "stopped"),
        })));
        writer.Tell("write");
        await ExpectMsgAsync("written", TimeSpan.FromSeconds(20));
        Watch(writer);
        Sys.Stop(writer);
        await ExpectTerminatedAsync(writer);

        IActorRef registry = Registry(TimeSpan.FromMinutes(1));
        RunList list = (await registry.Ask<RunList>(new ListRuns(), TimeSpan.FromSeconds(20)));
        Assert.Equal(["good"], list.Runs.Select(r => r.RunId));
        Assert.Equal("stopped", list.Runs[0].Status);
    }

    [Fact]
    public async Task AnEndedRunPassivatesAndAnswersAgainFromItsJournal()
    {
        IActorRef registry = Registry(TimeSpan.FromMilliseconds(300));
        Assert.Equal("r1", (await registry.Ask<RunAccepted>(new SubmitRun("r1", Config), TimeSpan.FromSeconds(20))).RunId);
        await registry.Ask<RunStatus>(new StopRun("r1"), TimeSpan.FromSeconds(20));

        // the run's supervisor goes away once it has been idle
        await AwaitConditionAsync(async () => await Child(registry, "run-r1") is null, TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(100));

        // a query starts it again, and it answers from its journal
        RunStatus status = (await registry.Ask<RunStatus>(new RunStatusRequest("r1"), TimeSpan.FromSeconds(20)));
        Assert.Equal("stopped", status.State);
        Assert.NotNull(await Child(registry, "run-r1"));
        await AwaitConditionAsync(async () => await Child(registry, "run-r1") is null, TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(100));
    }

    private IActorRef Registry(TimeSpan passivateAfter) =>
        Sys.ActorOf(RunRegistry.Props(new CoordinatorOptions(null, 1, ResumeUnfinished: false) { PassivateEndedAfter = passivateAfter }));

    private async Task<IActorRef?> Child(IActorRef parent, string name) =>
        (await Sys.ActorSelection(parent.Path / name).Ask<ActorIdentity>(new Identify(name), TimeSpan.FromSeconds(5))).Subject;

    /// <summary>Writes events under a persistence id, as another version of the registry would have.</summary>
    private sealed class JournalWriter : ReceivePersistentActor
    {
        public JournalWriter(string persistenceId, object[] events)
        {
            PersistenceId = persistenceId;
            Command<string>(_ =>
            {
                IActorRef replyTo = Sender;
                PersistAll(events, _ => { });
                DeferAsync("written", w => replyTo.Tell(w));
            });
        }

        public override string PersistenceId { get; }
    }
}

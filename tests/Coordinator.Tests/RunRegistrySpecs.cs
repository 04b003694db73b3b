using Akka.Actor;
using Akka.Persistence;
using CnnCluster.Coordinator.Cluster;
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

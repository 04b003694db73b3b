using Akka.Actor;
using Akka.Event;
using CnnCluster.Coordinator.Cluster;
using CnnCluster.Coordinator.Local;
using CnnCluster.Coordinator.Persistence;
using CnnCluster.Coordinator.Registry;
using CnnCluster.Shared.Protocol;
using Microsoft.Data.Sqlite;
using Xunit;

namespace CnnCluster.Coordinator.Tests;

/// <summary>
/// The `train` command's wait for the registry (<see cref="RegistryWait"/>) against the registry as the coordinator
/// hosts it (under its backoff supervisor, on a real SQLite file through Akka.Persistence.Sql) whose first recovery
/// fails: the file is held by another connection (BEGIN EXCLUSIVE) past a 2 s recovery limit, as a starved store
/// was past Akka's 30 s one when eight worker processes started beside the coordinator on two cores.
/// </summary>
public sealed class RegistryStartSpecs : SqliteStoreSpecs
{
    public RegistryStartSpecs()
        : base("registry-start", """
            akka.loglevel = WARNING
            akka.actor.provider = cluster
            akka.remote.dot-netty.tcp.hostname = 127.0.0.1
            akka.remote.dot-netty.tcp.port = 0
            akka.persistence.journal.sql.recovery-event-timeout = 2s
            """)
    {
    }

    [Fact]
    public async Task AnAskLostToAFailedRecoveryIsAskedAgainUntilTheRegistryAnswers()
    {
        using SqliteConnection holder = Hold();
        Sys.EventStream.Subscribe(TestActor, typeof(Error));
        IActorRef registry = Sys.ActorOf(CoordinatorHosting.SupervisedRegistry(new CoordinatorOptions(null, 1, ResumeUnfinished: false)));

        // one ask with a long wait, as `train` made before: the recovery it waits behind fails, and it is lost with the registry's stash
        Task<WorkerList> once = registry.Ask<WorkerList>(new ListWorkers(), TimeSpan.FromSeconds(12));
        var wait = new RegistryWait(registry, new RegistryWait.Limits(Ask: TimeSpan.FromSeconds(1), Registry: TimeSpan.FromSeconds(60), Workers: TimeSpan.Zero));
        Task<int> polled = Task.Run(() => wait.ForWorkers(0, "the test's file", CancellationToken.None));

        await FishForMessageAsync<Error>(e => e.Message.ToString()!.Contains("run-registry"), TimeSpan.FromSeconds(20)); // its recovery failed
        Assert.False(polled.IsCompleted);
        Release(holder);

        Assert.Equal(0, await polled.WaitAsync(TimeSpan.FromSeconds(30)));
        await Assert.ThrowsAsync<AskTimeoutException>(() => once);
    }

    [Fact]
    public async Task ARegistryThatNeverRecoversIsOneLineNamingTheStore()
    {
        using SqliteConnection holder = Hold();
        IActorRef registry = Sys.ActorOf(CoordinatorHosting.SupervisedRegistry(new CoordinatorOptions(null, 1, ResumeUnfinished: false)));
        var wait = new RegistryWait(registry, new RegistryWait.Limits(Ask: TimeSpan.FromSeconds(1), Registry: TimeSpan.FromSeconds(5), Workers: TimeSpan.Zero));

        var e = await Assert.ThrowsAsync<DatabaseUnavailableException>(() => Task.Run(() => wait.ForWorkers(1, "SQLite file runs.db", CancellationToken.None)));
        Assert.Contains("did not recover from SQLite file runs.db within 5 s", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Release(holder);
    }

    /// <summary>Another program holding the file: every read and write of the store waits behind it.</summary>
    private SqliteConnection Hold()
    {
        var c = new SqliteConnection($"Data Source={Db};Pooling=False");
        c.Open();
        using SqliteCommand begin = c.CreateCommand();
        begin.CommandText = "BEGIN EXCLUSIVE";
        begin.ExecuteNonQuery();
        return c;
    }

    private static void Release(SqliteConnection holder)
    {
        using SqliteCommand commit = holder.CreateCommand();
        commit.CommandText = "COMMIT";
        commit.ExecuteNonQuery();
    }
}

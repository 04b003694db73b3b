using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Configuration;
using Akka.Serialization;
using CnnCluster.Coordinator.Persistence;
using CnnCluster.Shared.Protocol;
using CnnCluster.Shared.Serialization;
using Microsoft.Data.Sqlite;
using Xunit;

namespace CnnCluster.Coordinator.Tests;

/// <summary>
/// The store's warm-up against a real SQLite file through Akka.Persistence.Sql, as the coordinator runs it: it saves a
/// run-sized snapshot under its own id, deletes it, and stops, leaving the store as it found it.
/// </summary>
public sealed class PersistenceWarmUpSpecs : Akka.TestKit.Xunit2.TestKit, IDisposable
{
    private readonly string _db;

    public PersistenceWarmUpSpecs()
        : this(Path.Combine(Path.GetTempPath(), $"cnn-warm-up-{Guid.NewGuid():N}.db"))
    {
    }

    private PersistenceWarmUpSpecs(string db)
        : base(ActorSystem.Create(
            "warm-up",
            ActorSystemSetup.Create(BootstrapSetup.Create().WithConfig(ConfigurationFactory.ParseString($$"""
                akka.loglevel = DEBUG
                akka.loggers = ["Akka.TestKit.TestEventListener, Akka.TestKit"]
                akka.persistence.journal.plugin = "akka.persistence.journal.sql"
                akka.persistence.journal.sql { connection-string = "Data Source={{db}}", provider-name = "{{PersistenceSettings.Sqlite}}", auto-initialize = true }
                akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.sql"
                akka.persistence.snapshot-store.sql { connection-string = "Data Source={{db}}", provider-name = "{{PersistenceSettings.Sqlite}}", auto-initialize = true }
                """).WithFallback(Akka.Persistence.Sql.SqlPersistence.DefaultConfiguration)))
                .And(SerializationSetup.Create(system => [SerializerDetails.Create(ProtocolSerializer.Name, new ProtocolSerializer(system), [typeof(IProtocolMessage)])]))))
    {
        _db = db;
    }

    [Fact]
    public async Task SavesARunSizedSnapshotDeletesItAndStopsWithoutAWarning()
    {
        await EventFilter.Warning().ExpectAsync(0, async () =>
        {
            IActorRef warmUp = Sys.ActorOf(PersistenceWarmUp.Props());
            Watch(warmUp);
            await ExpectTerminatedAsync(warmUp, TimeSpan.FromSeconds(30));
        });

        using var c = new SqliteConnection($"Data Source={_db}");
        c.Open();
        using SqliteCommand count = c.CreateCommand();
        count.CommandText = "SELECT count(*) FROM snapshot WHERE persistence_id = $id"; // the table is there: the save made it
        count.Parameters.AddWithValue("$id", PersistenceWarmUp.Id);
        Assert.Equal(0L, (long)count.ExecuteScalar()!);
    }

    void IDisposable.Dispose()
    {
        Shutdown();
        SqliteConnection.ClearAllPools();
        File.Delete(_db);
    }
}

using Akka.Actor;
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
public sealed class PersistenceWarmUpSpecs : SqliteStoreSpecs
{
    public PersistenceWarmUpSpecs()
        : base("warm-up", "akka.loglevel = DEBUG")
    {
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

        using var c = new SqliteConnection($"Data Source={Db}");
        c.Open();
        using SqliteCommand count = c.CreateCommand();
        count.CommandText = "SELECT count(*) FROM snapshot WHERE persistence_id = $id"; // the table is there: the save made it
        count.Parameters.AddWithValue("$id", PersistenceWarmUp.Id);
        Assert.Equal(0L, (long)count.ExecuteScalar()!);
    }
}

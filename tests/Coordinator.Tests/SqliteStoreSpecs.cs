using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Configuration;
using Akka.Serialization;
using CnnCluster.Coordinator.Persistence;
using CnnCluster.Shared.Protocol;
using CnnCluster.Shared.Serialization;
using Microsoft.Data.Sqlite;

namespace CnnCluster.Coordinator.Tests;

/// <summary>
/// TestKit specs whose journal and snapshot store are a real SQLite file of their own (<see cref="Db"/>, deleted after)
/// through Akka.Persistence.Sql, with our serializer, as the coordinator hosts them.
/// </summary>
public abstract class SqliteStoreSpecs : Akka.TestKit.Xunit2.TestKit, IDisposable
{
    /// <param name="extra">More HOCON, e.g. the log level, the cluster provider or a journal setting.</param>
    protected SqliteStoreSpecs(string name, string extra)
        : this(name, Path.Combine(Path.GetTempPath(), $"cnn-{name}-{Guid.NewGuid():N}.db"), extra)
    {
    }

    private SqliteStoreSpecs(string name, string db, string extra)
        : base(ActorSystem.Create(
            name,
            ActorSystemSetup.Create(BootstrapSetup.Create().WithConfig(ConfigurationFactory.ParseString($$"""
                akka.loggers = ["Akka.TestKit.TestEventListener, Akka.TestKit"]
                akka.persistence.journal.plugin = "akka.persistence.journal.sql"
                akka.persistence.journal.sql { connection-string = "Data Source={{db}}", provider-name = "{{PersistenceSettings.Sqlite}}", auto-initialize = true }
                akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.sql"
                akka.persistence.snapshot-store.sql { connection-string = "Data Source={{db}}", provider-name = "{{PersistenceSettings.Sqlite}}", auto-initialize = true }
                {{extra}}
                """).WithFallback(Akka.Persistence.Sql.SqlPersistence.DefaultConfiguration)))
                .And(SerializationSetup.Create(system => [SerializerDetails.Create(ProtocolSerializer.Name, new ProtocolSerializer(system), [typeof(IProtocolMessage)])]))))
    {
        Db = db;
    }

    /// <summary>The store's SQLite file.</summary>
    protected string Db { get; }

    void IDisposable.Dispose()
    {
        Shutdown();
        SqliteConnection.ClearAllPools();
        File.Delete(Db);
    }
}

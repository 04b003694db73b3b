using Akka.Hosting;
using Akka.Persistence.Sql.Hosting;

namespace CnnCluster.Coordinator.Persistence;

/// <summary>Akka.Persistence.Sql (journal and snapshot store) through Akka.Hosting; the tables are created on first use.</summary>
public static class PersistenceHosting
{
    public static AkkaConfigurationBuilder WithRunPersistence(this AkkaConfigurationBuilder builder, PersistenceSettings settings)
    {
        return builder.WithSqlPersistence(settings.ConnectionString, settings.Provider, autoInitialize: true);
    }
}

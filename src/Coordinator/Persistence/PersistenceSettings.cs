using System.Data.Common;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace CnnCluster.Coordinator.Persistence;

/// <summary>
/// Where runs are persisted (DESIGN §5): a SQLite file by default (./data/cnncluster.db, provider
/// SQLite.MS), or what PERSISTENCE_PROVIDER / PERSISTENCE_CONNECTION say (e.g. PostgreSQL.15 and an
/// Npgsql connection string). `--db FILE` picks a SQLite file. PERSISTENCE_PASSWORD_FILE names a file
/// holding the PostgreSQL password (compose's generated one), so the connection string carries none.
/// </summary>
public sealed record PersistenceSettings(string Provider, string ConnectionString)
{
    public const string Sqlite = "SQLite.MS";
    public const string PostgreSql = "PostgreSQL.15";
    public const string DefaultFile = "data/cnncluster.db";

    public static PersistenceSettings ForSqliteFile(string path)
    {
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        return new PersistenceSettings(Sqlite, new SqliteConnectionStringBuilder { DataSource = full, Pooling = true }.ToString());
    }

    /// <summary>--db FILE, else the environment, else the default SQLite file.</summary>
    public static PersistenceSettings Resolve(string? dbFile, Func<string, string?>? env = null)
    {
        env ??= Environment.GetEnvironmentVariable;
        if (dbFile is not null)
        {
            return ForSqliteFile(dbFile);
        }

        string? provider = env("PERSISTENCE_PROVIDER");
        string? connection = env("PERSISTENCE_CONNECTION");
        if (string.IsNullOrWhiteSpace(provider))
        {
            return string.IsNullOrWhiteSpace(connection) ? ForSqliteFile(DefaultFile) : new PersistenceSettings(Sqlite, connection);
        }

        if (provider != Sqlite && provider != PostgreSql)
        {
            throw new ArgumentException($"PERSISTENCE_PROVIDER '{provider}' is not supported; use {Sqlite} or {PostgreSql}");
        }

        if (string.IsNullOrWhiteSpace(connection))
        {
            if (provider == Sqlite)
            {
                return ForSqliteFile(DefaultFile);
            }

            throw new ArgumentException($"PERSISTENCE_CONNECTION is not set for {provider}, e.g. Host=127.0.0.1;Port=5432;Username=cnn;Database=cnncluster (and PERSISTENCE_PASSWORD_FILE)");
        }

        if (provider == PostgreSql && env("PERSISTENCE_PASSWORD_FILE") is { Length: > 0 } passwordFile)
        {
            string password;
            try
            {
                password = CnnCluster.Security.SecretFiles.ReadSecret(passwordFile);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ArgumentException($"PERSISTENCE_PASSWORD_FILE {passwordFile} cannot be read: {e.Message}");
            }

            connection = new NpgsqlConnectionStringBuilder(connection) { Password = password }.ToString();
        }

        if (provider == PostgreSql && !new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connection }.Keys.Cast<string>()
                .Any(k => k.Replace(" ", "").StartsWith("gss", StringComparison.OrdinalIgnoreCase)))
        {
            // Npgsql's default (Prefer) probes Kerberos' GSSAPI library at the first connection: where it is not
            // installed (the .NET images), .NET prints "Cannot load library libgssapi_krb5.so.2" at every start.
            // The cluster logs in with a password; a connection string that names a GSS setting keeps its own.
            connection = new NpgsqlConnectionStringBuilder(connection) { GssEncryptionMode = GssEncryptionMode.Disable }.ToString();
        }

        return new PersistenceSettings(provider, connection);
    }

    /// <summary>A description without secrets, for messages.</summary>
    public string Describe()
    {
        if (Provider == Sqlite)
        {
            return $"SQLite file {new SqliteConnectionStringBuilder(ConnectionString).DataSource}";
        }

        var b = new NpgsqlConnectionStringBuilder(ConnectionString);
        return $"PostgreSQL {b.Host}:{b.Port}/{b.Database} as {b.Username}";
    }

    public DbConnection Open()
    {
        DbConnection c = Provider == Sqlite ? new SqliteConnection(ConnectionString) : new NpgsqlConnection(ConnectionString);
        try
        {
            c.Open();
            return c;
        }
        catch
        {
            c.Dispose();
            throw;
        }
    }
}

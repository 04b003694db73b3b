using System.Data.Common;
using System.Globalization;

namespace CnnCluster.Coordinator.Persistence;

/// <summary>Another live coordinator holds the store.</summary>
public sealed class StoreHeldException(string message) : Exception(message);

/// <summary>
/// One writer per store: a coordinator (`serve`, or `train` through the cluster) holds a lease row in
/// the store it persists to, renews it every <see cref="RenewEvery"/> and gives it back when it stops.
/// A second coordinator on the same SQLite file or PostgreSQL database waits for a lease held by a
/// coordinator that died (it expires <see cref="Ttl"/> after the last renewal) and is refused, with
/// the holder named, when the holder is alive. A lease lost while running (taken after it expired,
/// e.g. this process was frozen) ends this process: two writers must never own one persistence id.
/// Expiry compares the coordinators' clocks: they are assumed within a few seconds of each other.
/// </summary>
public sealed class StoreLease : IDisposable
{
    public static readonly TimeSpan Ttl = TimeSpan.FromSeconds(10);
    public static readonly TimeSpan RenewEvery = TimeSpan.FromSeconds(3);

    private const string Name = "coordinator";

    private readonly PersistenceSettings _settings;
    private readonly string _holder;
    private readonly Action<string> _lost;
    private readonly Timer _timer;
    private int _stopped;
    private long _renewedAt = Now();

    private StoreLease(PersistenceSettings settings, string holder, Action<string> lost)
    {
        _settings = settings;
        _holder = holder;
        _lost = lost;
        _timer = new Timer(_ => Renew(), null, RenewEvery, RenewEvery);
    }

    /// <summary>This process, as other coordinators will see the holder.</summary>
    public static string ThisProcess(string command) =>
        $"{command} on {Environment.MachineName} pid {Environment.ProcessId} ({Guid.NewGuid().ToString("N")[..8]})";

    /// <summary>
    /// Takes the store's lease for <paramref name="holder"/>, waiting up to <see cref="Ttl"/> (and a
    /// little) for one left by a dead coordinator; throws a <see cref="StoreHeldException"/> naming the
    /// holder if a live one keeps it. <paramref name="lost"/> is called if the lease is lost later.
    /// </summary>
    public static StoreLease Acquire(PersistenceSettings settings, string holder, TextWriter log, Action<string> lost)
    {
        DateTime deadline = DateTime.UtcNow + Ttl + RenewEvery;
        bool told = false;
        while (true)
        {
            (string current, long acquired, long expires) = TryTake(settings, holder);
            if (current == holder)
            {
                return new StoreLease(settings, holder, lost);
            }

            DateTime now = DateTime.UtcNow;
            string since = DateTimeOffset.FromUnixTimeMilliseconds(acquired).UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture);
            if (now > deadline)
            {
                throw new StoreHeldException(
                    $"{settings.Describe()} is in use by another coordinator: {current}, since {since}; one coordinator per store: stop it, or give this one another store (--db FILE, PERSISTENCE_CONNECTION)");
            }

            if (!told)
            {
                log.WriteLine($"{settings.Describe()} is held by {current} (since {since}); waiting up to {(deadline - now).TotalSeconds:F0} s in case that coordinator is gone");
                told = true;
            }

            Thread.Sleep(TimeSpan.FromMilliseconds(Math.Clamp(expires - Now() + 100, 200, 1000)));
        }
    }

    /// <summary>True while this process holds the lease: not given back or lost, and renewed within <see cref="Ttl"/> (a store that fails to renew it lets it lapse).</summary>
    public bool Held => Volatile.Read(ref _stopped) == 0 && Now() - Interlocked.Read(ref _renewedAt) < (long)Ttl.TotalMilliseconds;

    /// <summary>Gives the lease back (a clean stop): the next coordinator need not wait.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        _timer.Dispose();
        try
        {
            using DbConnection c = _settings.Open();
            Execute(c, "DELETE FROM cnncluster_lease WHERE name = @name AND holder = @holder", ("@name", Name), ("@holder", _holder));
        }
        catch (Exception e) when (e is DbException or InvalidOperationException or TimeoutException)
        {
            // the store is gone: the lease expires by itself
        }
    }

    private void Renew()
    {
        if (Volatile.Read(ref _stopped) != 0)
        {
            return;
        }

        try
        {
            using DbConnection c = _settings.Open();
            int rows = Execute(c, "UPDATE cnncluster_lease SET expires_at = @expires WHERE name = @name AND holder = @holder",
                ("@expires", Now() + (long)Ttl.TotalMilliseconds), ("@name", Name), ("@holder", _holder));
            if (rows == 0 && Interlocked.Exchange(ref _stopped, 1) == 0)
            {
                _timer.Dispose();
                _lost($"this coordinator's lease on {_settings.Describe()} was taken by another coordinator (this one did not renew it for {Ttl.TotalSeconds:F0} s)");
            }
            else if (rows > 0)
            {
                Interlocked.Exchange(ref _renewedAt, Now());
            }
        }
        catch (Exception e) when (e is DbException or InvalidOperationException or TimeoutException)
        {
            // the store is failing: runs pause on their own; the lease is renewed when it works again
        }
    }

    private static (string Holder, long Acquired, long Expires) TryTake(PersistenceSettings settings, string holder)
    {
        using DbConnection c = settings.Open();
        Execute(c, """
            CREATE TABLE IF NOT EXISTS cnncluster_lease (
                name VARCHAR(64) PRIMARY KEY, holder VARCHAR(512) NOT NULL, acquired_at BIGINT NOT NULL, expires_at BIGINT NOT NULL)
            """);
        long now = Now();
        Execute(c, """
            INSERT INTO cnncluster_lease (name, holder, acquired_at, expires_at) VALUES (@name, @holder, @now, @expires)
            ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, acquired_at = excluded.acquired_at, expires_at = excluded.expires_at
            WHERE cnncluster_lease.expires_at < @now OR cnncluster_lease.holder = excluded.holder
            """, ("@name", Name), ("@holder", holder), ("@now", now), ("@expires", now + (long)Ttl.TotalMilliseconds));
        using DbCommand read = Command(c, "SELECT holder, acquired_at, expires_at FROM cnncluster_lease WHERE name = @name", ("@name", Name));
        using DbDataReader r = read.ExecuteReader();
        r.Read();
        return (r.GetString(0), r.GetInt64(1), r.GetInt64(2));
    }

    private static long Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    private static int Execute(DbConnection c, string sql, params (string Name, object Value)[] parameters)
    {
        using DbCommand command = Command(c, sql, parameters);
        return command.ExecuteNonQuery();
    }

    private static DbCommand Command(DbConnection c, string sql, params (string Name, object Value)[] parameters)
    {
        DbCommand command = c.CreateCommand();
        command.CommandText = sql;
        foreach ((string name, object value) in parameters)
        {
            DbParameter p = command.CreateParameter();
            p.ParameterName = name;
            p.Value = value;
            command.Parameters.Add(p);
        }

        return command;
    }
}

using System.Data.Common;

namespace CnnCluster.Coordinator.Persistence;

/// <summary>The database could not be reached after all retries.</summary>
public sealed class DatabaseUnavailableException(string message) : Exception(message);

/// <summary>
/// Checks that the database answers before a node starts, retrying with exponential backoff
/// (1, 2, 4 … 30 s) so that a coordinator started with its database (as in docker-compose) waits for
/// it, and a wrong address ends in one clear error instead of a failing actor system.
/// </summary>
public static class DatabaseProbe
{
    public static void WaitFor(PersistenceSettings settings, TimeSpan budget, TextWriter log)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        TimeSpan delay = TimeSpan.FromSeconds(1);
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                using DbConnection c = settings.Open();
                using DbCommand cmd = c.CreateCommand();
                cmd.CommandText = "SELECT 1";
                cmd.ExecuteScalar();
                return;
            }
            catch (Exception e) when (e is DbException or InvalidOperationException or System.Net.Sockets.SocketException or TimeoutException)
            {
                if (clock.Elapsed + delay > budget)
                {
                    throw new DatabaseUnavailableException(
                        $"cannot reach the database ({settings.Describe()}) after {attempt} attempts in {clock.Elapsed.TotalSeconds:F0} s: {e.Message}. " +
                        "Check PERSISTENCE_PROVIDER / PERSISTENCE_CONNECTION (or --db FILE) and that the server is running.");
                }

                log.WriteLine($"database {settings.Describe()} unreachable (attempt {attempt}: {e.Message}); retrying in {delay.TotalSeconds:F0} s");
                Thread.Sleep(delay);
                delay = TimeSpan.FromSeconds(Math.Min(30, delay.TotalSeconds * 2));
            }
        }
    }
}

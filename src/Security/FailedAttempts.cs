namespace CnnCluster.Security;

/// <summary>
/// Failed attempts to show the token (pbm's hellos, HTTP requests), per address: an address with
/// <paramref name="limit"/> failures within <paramref name="window"/> is told "too many failed attempts" for each
/// further wrong token until the oldest of them leaves the window. Only wrong tokens are refused so: the right
/// one is always admitted (behind a port mapping every client shares an address, and a stranger's failures must
/// not lock the operator out; the token is too long to guess, <see cref="SecretFiles.MinTokenLength"/>).
/// Remembers at most <paramref name="maxAddresses"/> addresses (expired ones go first, then the quietest).
/// Pure: time is an argument; one thread uses it.
/// </summary>
public sealed class FailedAttempts(int limit, TimeSpan window, int maxAddresses = 4096)
{
    private readonly Dictionary<string, Queue<DateTime>> _failures = new();

    public int Limit => limit;

    public TimeSpan Window => window;

    /// <summary>Addresses remembered now.</summary>
    public int Count => _failures.Count;

    /// <summary>The answer to a wrong token from an address over the limit, with how long to wait; null below it.</summary>
    public string? Refusal(string address, DateTime now)
    {
        if (!_failures.TryGetValue(address, out Queue<DateTime>? times))
        {
            return null;
        }

        while (times.Count > 0 && now - times.Peek() >= window)
        {
            times.Dequeue();
        }

        if (times.Count == 0)
        {
            _failures.Remove(address);
            return null;
        }

        if (times.Count < limit)
        {
            return null;
        }

        // only the last `limit` are kept: the oldest of them leaving the window lets the address in again
        return $"too many failed attempts from {address}; try again in {Math.Max(1, RetryAfter(times, now))} s";
    }

    /// <summary>Records a wrong token from <paramref name="address"/>; true when this one reached the limit (worth one log line).</summary>
    public bool Record(string address, DateTime now)
    {
        if (!_failures.TryGetValue(address, out Queue<DateTime>? times))
        {
            if (_failures.Count >= maxAddresses)
            {
                foreach (string old in _failures.Where(f => now - f.Value.Last() >= window).Select(f => f.Key).ToList())
                {
                    _failures.Remove(old);
                }

                if (_failures.Count >= maxAddresses)
                {
                    _failures.Remove(_failures.MinBy(f => f.Value.Last()).Key);
                }
            }

            _failures[address] = times = new Queue<DateTime>();
        }

        times.Enqueue(now);
        while (times.Count > limit)
        {
            times.Dequeue();
        }

        return times.Count == limit;
    }

    /// <summary>Seconds until <paramref name="address"/> is below the limit again (0 when it is).</summary>
    public int RetryAfter(string address, DateTime now) =>
        Refusal(address, now) is null ? 0 : RetryAfter(_failures[address], now);

    private int RetryAfter(Queue<DateTime> times, DateTime now) => (int)Math.Ceiling((times.Peek() + window - now).TotalSeconds);
}

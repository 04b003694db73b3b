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

    /// <summary>An address over the limit: what a wrong token from it is told, and in how many seconds it may try again.</summary>
    public sealed record Lockout(string Message, int RetryAfterSeconds);

    /// <summary>The lockout of an address over the limit; null below it.</summary>
    public Lockout? Refusal(string address, DateTime now)
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
        int wait = Math.Max(1, (int)Math.Ceiling((times.Peek() + window - now).TotalSeconds));
        return new Lockout($"too many failed attempts from {address}; try again in {wait} s", wait);
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
}

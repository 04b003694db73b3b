namespace CnnCluster.Shared.DataPlane;

/// <summary>
/// Lines of one kind told at most once a second, each saying how many like it were left out since the one before:
/// a flood of refused or failed connections is a line a second in the log, not a line a connection. Thread-safe.
/// </summary>
public sealed class OncePerSecond(Action<string> log)
{
    private long _toldAt = -1_000_000; // long before the first line (not MinValue: the difference would overflow)
    private long _left;

    /// <summary>Tells <paramref name="line"/> (made only when told), unless a line of this kind was told less than a second ago.</summary>
    public void Tell(Func<string> line)
    {
        long now = Environment.TickCount64;
        long told = Interlocked.Read(ref _toldAt);
        if (now - told < 1000 || Interlocked.CompareExchange(ref _toldAt, now, told) != told)
        {
            Interlocked.Increment(ref _left);
            return;
        }

        long left = Interlocked.Exchange(ref _left, 0);
        log(left == 0 ? line() : $"{line()}; {left} more like it since the last such line");
    }
}

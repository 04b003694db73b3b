namespace CnnCluster.Engine.Training;

/// <summary>
/// A fixed team of threads for one parallel loop at a time: <see cref="Run"/> calls job(t) for every
/// member t, member 0 being the caller, and returns when all are done. Helpers are dedicated background
/// threads parked on their own semaphore between rounds, so a round allocates nothing and starts
/// without the thread pool's latency. The owner disposes the team (or its finalizer does).
/// </summary>
public sealed class ThreadTeam : IDisposable
{
    private readonly SemaphoreSlim[] _start;
    private readonly CountdownEvent _done = new(0);
    private Action<int>? _job;
    private Exception? _failure;
    private int _round;
    private volatile bool _disposed;

    public ThreadTeam(int size)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        Size = size;
        _start = new SemaphoreSlim[size - 1];
        for (int h = 0; h < _start.Length; h++)
        {
            _start[h] = new SemaphoreSlim(0);
            int member = h + 1;
            new Thread(() => Help(member)) { IsBackground = true, Name = $"cnn-team-{member}" }.Start();
        }
    }

    public int Size { get; }

    /// <summary>Runs job(0..Size-1) on the team and waits; the first exception of any member is rethrown.</summary>
    public void Run(Action<int> job)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _job = job;
        _failure = null;
        _done.Reset(_start.Length);
        Interlocked.Increment(ref _round);
        foreach (SemaphoreSlim start in _start)
        {
            start.Release();
        }

        try
        {
            job(0);
        }
        finally
        {
            _done.Wait();
            _job = null;
        }

        if (_failure is { } failure)
        {
            throw new AggregateException("a team thread failed", failure);
        }
    }

    private void Help(int member)
    {
        SemaphoreSlim start = _start[member - 1];
        int last = 0;
        while (true)
        {
            // a wake-up is a new round or the end; a round released before a Dispose still runs, so Run never waits forever
            start.Wait();
            int round = Volatile.Read(ref _round);
            if (round == last)
            {
                if (_disposed)
                {
                    return;
                }

                continue;
            }

            last = round;
            try
            {
                _job!(member);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref _failure, e, null);
            }
            finally
            {
                _done.Signal();
            }
        }
    }

    /// <summary>Lets the helper threads end.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (SemaphoreSlim start in _start)
        {
            start.Release();
        }
    }
}

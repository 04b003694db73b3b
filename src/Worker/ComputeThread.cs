using System.Collections.Concurrent;

namespace CnnCluster.Worker;

/// <summary>
/// One dedicated thread that runs a worker's computations one after another: every step starts on the
/// same thread (with its caches and its core), as the engine's own training loop does, instead of
/// whichever thread-pool thread is free; the worker actor, on its own thread, stays free to answer and to
/// drop queued work that a newer step made stale while a step computes.
/// </summary>
public sealed class ComputeThread : IDisposable
{
    private readonly BlockingCollection<Action> _queue = new();

    public ComputeThread(string name)
    {
        new Thread(Loop) { IsBackground = true, Name = name }.Start();
    }

    /// <summary>Runs <paramref name="work"/> on the thread after what is queued before it.</summary>
    public void Post(Action work) => _queue.Add(work);

    private void Loop()
    {
        foreach (Action work in _queue.GetConsumingEnumerable())
        {
            work();
        }
    }

    public void Dispose() => _queue.CompleteAdding();
}

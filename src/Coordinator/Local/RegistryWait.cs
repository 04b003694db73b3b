using Akka.Actor;
using CnnCluster.Coordinator.Persistence;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Local;

/// <summary>
/// How the one-run `train` command waits before it submits: for the run registry to answer at all, then for
/// the workers it started. Until the registry's recovery from the store ends an ask waits in its stash, but a
/// recovery that fails stops it, its stash is dropped, and between that and its backoff supervisor's next start
/// messages to it go to dead letters (Akka's BackoffSupervisor): an ask may never be answered, so it is asked
/// again. On a loaded machine (eight worker processes starting beside it on two cores) a first recovery took
/// over Akka's 30 s limit and failed once; the second recovered.
/// </summary>
public sealed class RegistryWait(IActorRef registry, RegistryWait.Limits limits)
{
    /// <summary>
    /// <paramref name="Ask"/>: one ask's wait; <paramref name="Registry"/>: how long the registry may stay silent;
    /// <paramref name="Workers"/>: how long to wait for the workers after its first answer.
    /// </summary>
    public sealed record Limits(TimeSpan Ask, TimeSpan Registry, TimeSpan Workers);

    /// <summary>
    /// Returns how many workers joined: all <paramref name="expected"/> of them, or those in after
    /// <see cref="Limits.Workers"/> (the run starts with them and its membership takes the others as they come).
    /// Throws <see cref="DatabaseUnavailableException"/> when the registry stays silent for <see cref="Limits.Registry"/>.
    /// </summary>
    public int ForWorkers(int expected, string store, CancellationToken cancellation)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        TimeSpan? firstAnswer = null;
        TimeSpan lastAnswer = TimeSpan.Zero;
        int joined = 0;
        while (!cancellation.IsCancellationRequested)
        {
            if (Poll() is WorkerList list)
            {
                firstAnswer ??= clock.Elapsed;
                lastAnswer = clock.Elapsed;
                joined = list.Workers.Count(w => string.IsNullOrEmpty(w.Refused));
                if (joined >= expected || clock.Elapsed - firstAnswer >= limits.Workers)
                {
                    return joined;
                }
            }
            else if (clock.Elapsed - lastAnswer >= limits.Registry)
            {
                throw new DatabaseUnavailableException($"the run registry did not recover from {store} within {limits.Registry.TotalSeconds:F0} s; " +
                    "is the database reachable and not held by another program? (the coordinator's log says why its recovery failed)");
            }

            Thread.Sleep(200);
        }

        return joined;
    }

    /// <summary>One ask that may go unanswered (the registry is recovering, or between two starts): null then.</summary>
    public WorkerList? Poll()
    {
        try
        {
            return registry.Ask<WorkerList>(new ListWorkers(), limits.Ask).GetAwaiter().GetResult();
        }
        catch (AskTimeoutException)
        {
            return null;
        }
    }
}

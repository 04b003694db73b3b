using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Runs.Steps;

/// <summary>
/// The coordinator's view of a sharded run's replicas (DESIGN §5): the members, whose replicas are at the
/// run's step, and the workers waiting for a replica (joined, or out of step) — they become members at a
/// step boundary, once the coordinator holds the state to send them. Every change of membership starts a
/// new generation: its plan orders the members, member k owns parameter slice k. Pure state, no actors.
/// </summary>
public sealed class ShardedGroup<TWorker>(IComparer<TWorker> order)
    where TWorker : notnull
{
    private readonly Dictionary<TWorker, (int Threads, string Endpoint)> _members = new();
    private readonly Dictionary<TWorker, (int Threads, string Endpoint)> _waiting = new();

    /// <summary>Grows with every plan that follows a change of membership (and with every step run again).</summary>
    public int Generation { get; private set; }

    /// <summary>Members in slice order.</summary>
    public IReadOnlyList<TWorker> Members => _members.Keys.Order(order).ToList();

    public string EndpointOf(TWorker member) => _members[member].Endpoint;

    public IReadOnlyDictionary<TWorker, (int Threads, string Endpoint)> Waiting => _waiting;

    public bool IsMember(TWorker worker) => _members.ContainsKey(worker);

    /// <summary>A worker with a data plane: it waits for a replica.</summary>
    public void Join(TWorker worker, int threads, string endpoint)
    {
        if (!_members.ContainsKey(worker))
        {
            _waiting[worker] = (threads, endpoint);
        }
    }

    /// <summary>The worker got the run's state: a member from the next plan on.</summary>
    public void Admit(TWorker worker)
    {
        if (_waiting.Remove(worker, out var w))
        {
            _members[worker] = w;
        }
    }

    /// <summary>A member's replica is not at the run's step (it says so): it waits for a new state.</summary>
    public bool OutOfStep(TWorker worker)
    {
        if (_members.Remove(worker, out var member))
        {
            _waiting[worker] = member;
            return true;
        }

        return false;
    }

    /// <summary>The worker is gone (or cannot take part); true when it was a member.</summary>
    public bool Remove(TWorker worker)
    {
        _waiting.Remove(worker);
        return _members.Remove(worker);
    }

    /// <summary>The generation of the next plan.</summary>
    public int NextGeneration() => ++Generation;
}

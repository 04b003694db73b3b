using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using CnnCluster.Engine.Kernels;
using CnnCluster.Shared.Hosting;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Cluster;

/// <summary>
/// Knows the workers of the cluster through its membership: for every member with role `worker` it
/// identifies the actors /user/worker-*, asks their capacity, watches them, and tells subscribers
/// (the runs) when one joins or is lost (terminated, unreachable, removed). An unreachable member's
/// workers come back when it is reachable again. A worker whose engine follows another numeric
/// contract would compute other bits: it is refused (one log line) and listed as refused, never given work.
/// A worker a run quarantines (its results failed twice) is listed with the reason and given no work
/// until its node leaves and joins again.
/// </summary>
public sealed class WorkerDirectory : ReceiveActor, IWithTimers
{
    private static readonly TimeSpan IdentifyRetry = TimeSpan.FromSeconds(1);

    private readonly Akka.Cluster.Cluster _cluster = Akka.Cluster.Cluster.Get(Context.System);
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<IActorRef, WorkerCapacity> _workers = new();
    private readonly HashSet<IActorRef> _identified = new();
    private readonly HashSet<Address> _workerMembers = new();
    private readonly HashSet<Address> _unreachable = new();
    private readonly HashSet<IActorRef> _subscribers = new();
    private readonly Dictionary<IActorRef, string> _refused = new();

    public WorkerDirectory()
    {
        Receive<ClusterEvent.MemberUp>(up => OnMemberUp(up.Member));
        Receive<ClusterEvent.MemberRemoved>(removed => OnMemberGone(removed.Member.Address, "left the cluster"));
        Receive<ClusterEvent.UnreachableMember>(u =>
        {
            _unreachable.Add(u.Member.Address);
            OnMemberGone(u.Member.Address, "unreachable", forget: false);
        });
        Receive<ClusterEvent.ReachableMember>(r =>
        {
            _unreachable.Remove(r.Member.Address);
            if (_workerMembers.Contains(r.Member.Address))
            {
                Identify(r.Member.Address);
            }
        });
        Receive<ClusterEvent.IMemberEvent>(_ => { });
        Receive<RetryIdentify>(_ => RetryMissing());
        Receive<ActorIdentity>(OnIdentity);
        Receive<WorkerInfo>(OnInfo);
        Receive<Terminated>(t => Lose(t.ActorRef, "terminated"));
        Receive<ListWorkers>(_ =>
        {
            // fresh counters from every worker, gathered in the background
            IActorRef replyTo = Sender;
            Dictionary<IActorRef, int> workers = _workers.ToDictionary(kv => kv.Key, kv => kv.Value.Threads);
            Dictionary<IActorRef, string> refused = new(_refused);
            Task.WhenAll(workers.Keys.Concat(refused.Keys).Select(async w =>
            {
                string why = refused.GetValueOrDefault(w, "");
                try
                {
                    WorkerInfo info = await w.Ask<WorkerInfo>(new WorkerInfoRequest(), TimeSpan.FromSeconds(3));
                    return new WorkerListEntry(w.Path.ToString(), info.Threads, info.ShardsDone, info.LastStepMilliseconds, info.Instructions, why);
                }
                catch (Exception)
                {
                    return new WorkerListEntry(w.Path.ToString(), workers.GetValueOrDefault(w), -1, double.NaN, "", why);
                }
            })).ContinueWith(t => new WorkerList(t.Result.OrderBy(e => e.Address, StringComparer.Ordinal).ToArray())).PipeTo(replyTo);
        });
        Receive<QuarantineWorker>(q =>
        {
            if (_workers.Remove(q.Worker))
            {
                _refused[q.Worker] = q.Reason;
                _log.Error("worker {0} {1}; no run gives it work until its node rejoins the cluster", q.Worker.Path, q.Reason);
                Publish(new WorkerLost(q.Worker, q.Reason));
            }
        });
        Receive<SubscribeWorkers>(s =>
        {
            _subscribers.Add(s.Subscriber);
            Context.Watch(s.Subscriber);
            s.Subscriber.Tell(new WorkerSet(new Dictionary<IActorRef, WorkerCapacity>(_workers)));
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props() => Akka.Actor.Props.Create(() => new WorkerDirectory());

    protected override void PreStart()
    {
        _cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.IMemberEvent), typeof(ClusterEvent.IReachabilityEvent));
        Timers.StartPeriodicTimer("identify", RetryIdentify.Instance, IdentifyRetry);
    }

    protected override void PostStop() => _cluster.Unsubscribe(Self);

    private void OnMemberUp(Member member)
    {
        if (member.HasRole(Roles.Worker))
        {
            _workerMembers.Add(member.Address);
            Identify(member.Address);
        }
    }

    private void Identify(Address address) =>
        Context.ActorSelection(new RootActorPath(address) / "user" / "worker-*").Tell(new Identify(address));

    // a worker node may join before its actors exist: keep asking members that show none
    private void RetryMissing()
    {
        foreach (Address address in _workerMembers)
        {
            if (!_unreachable.Contains(address) && !_workers.Keys.Concat(_refused.Keys).Any(w => w.Path.Address == address))
            {
                Identify(address);
            }
        }
    }

    private void OnIdentity(ActorIdentity identity)
    {
        // ask whoever is not a worker yet, again if need be: an answer dropped while its node was unreachable is asked again
        if (identity.Subject is { } worker && !_workers.ContainsKey(worker) && !_refused.ContainsKey(worker))
        {
            if (_identified.Add(worker))
            {
                Context.Watch(worker);
            }

            worker.Tell(new WorkerInfoRequest());
        }
    }

    private void OnInfo(WorkerInfo info)
    {
        IActorRef worker = Sender;
        if (!_identified.Contains(worker) || _workers.ContainsKey(worker) || _refused.ContainsKey(worker) || _unreachable.Contains(worker.Path.Address))
        {
            _identified.Remove(worker);
            return;
        }

        string? refusal = info.Protocol != WorkerInfo.CurrentProtocol
            ? $"protocol {info.Protocol}, this coordinator speaks {WorkerInfo.CurrentProtocol} (its messages would be misread)"
            : info.NumericContract != NumericContract.Version
                ? $"numeric contract {info.NumericContract}, this coordinator computes with {NumericContract.Version} (its results would differ in the last bits)"
                : null;
        if (refusal is not null)
        {
            _refused[worker] = refusal;
            Telemetry.ClusterMeters.Workers(_workers.Count, _refused.Count);
            _log.Warning("worker {0} refused: {1}; run the same CnnCluster version on every node", worker.Path, refusal);
            return;
        }

        var capacity = new WorkerCapacity(info.Threads, info.DataEndpoint);
        _workers[worker] = capacity;
        _log.Info("worker {0} joined ({1} threads, {2}, numeric contract {3}); {4} workers", worker.Path, info.Threads, info.Instructions, info.NumericContract, _workers.Count);
        Publish(new WorkerJoined(worker, capacity));
    }

    private void OnMemberGone(Address address, string reason, bool forget = true)
    {
        if (forget)
        {
            _workerMembers.Remove(address);
            _unreachable.Remove(address);
        }

        foreach (IActorRef worker in _workers.Keys.Where(w => w.Path.Address == address).ToList())
        {
            Lose(worker, $"node {address} {reason}");
        }

        _identified.RemoveWhere(w => w.Path.Address == address);
        if (forget)
        {
            foreach (IActorRef refused in _refused.Keys.Where(w => w.Path.Address == address).ToList())
            {
                _refused.Remove(refused);
            }
        }
    }

    private void Lose(IActorRef worker, string reason)
    {
        if (_subscribers.Remove(worker))
        {
            return;
        }

        _identified.Remove(worker);
        _refused.Remove(worker);
        if (_workers.Remove(worker))
        {
            _log.Warning("worker {0} lost: {1}; {2} workers left", worker.Path, reason, _workers.Count);
            Publish(new WorkerLost(worker, reason));
        }
    }

    private void Publish(object message)
    {
        Telemetry.ClusterMeters.Workers(_workers.Count, _refused.Count);
        foreach (IActorRef s in _subscribers)
        {
            s.Tell(message);
        }
    }

    private sealed class RetryIdentify
    {
        public static readonly RetryIdentify Instance = new();
    }
}

using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using CnnCluster.Shared.Hosting;

namespace CnnCluster.Worker;

/// <summary>
/// A worker node's watch for the coordinator. When the coordinator dies, the split-brain resolver downs the
/// side without it and the worker's membership ends by itself; when it leaves cleanly (`docker compose
/// restart coordinator`, SIGTERM) nobody is downed, and the workers would stay Up in a cluster of their own
/// while the restarted coordinator, its own first seed, forms another. So: once this node is Up and no member
/// with the coordinator role has been in the cluster for <see cref="Absence"/>, it leaves; the worker's
/// program then starts a new membership that joins the seeds, where the coordinator comes back.
/// </summary>
public sealed class CoordinatorWatch : ReceiveActor, IWithTimers
{
    /// <summary>How long a node that is Up waits for a coordinator before it leaves to join the seeds again.</summary>
    public static readonly TimeSpan Absence = TimeSpan.FromSeconds(10);

    private readonly Cluster _cluster = Cluster.Get(Context.System);
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly HashSet<UniqueAddress> _coordinators = [];
    private bool _up;

    public CoordinatorWatch()
    {
        Receive<ClusterEvent.MemberUp>(e => Seen(e.Member));
        Receive<ClusterEvent.MemberJoined>(e => Seen(e.Member));
        Receive<ClusterEvent.MemberWeaklyUp>(e => Seen(e.Member));
        // a coordinator that is leaving will not plan another step: it counts as gone from its first sign
        Receive<ClusterEvent.MemberLeft>(e => Gone(e.Member));
        Receive<ClusterEvent.MemberExited>(e => Gone(e.Member));
        Receive<ClusterEvent.MemberRemoved>(e => Gone(e.Member));
        Receive<ClusterEvent.IMemberEvent>(_ => { });
        Receive<Absent>(_ => Leave());
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props() => Akka.Actor.Props.Create(() => new CoordinatorWatch());

    protected override void PreStart() => _cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.IMemberEvent));

    protected override void PostStop() => _cluster.Unsubscribe(Self);

    private void Seen(Member member)
    {
        if (member.UniqueAddress == _cluster.SelfUniqueAddress && member.Status == MemberStatus.Up)
        {
            _up = true;
        }

        if (member.HasRole(Roles.Coordinator))
        {
            _coordinators.Add(member.UniqueAddress);
        }

        Check();
    }

    private void Gone(Member member)
    {
        if (member.HasRole(Roles.Coordinator))
        {
            _coordinators.Remove(member.UniqueAddress);
        }

        Check();
    }

    private void Check()
    {
        if (_up && _coordinators.Count == 0)
        {
            if (!Timers.IsTimerActive(Absent.Key))
            {
                Timers.StartSingleTimer(Absent.Key, Absent.Instance, Absence);
            }
        }
        else
        {
            Timers.Cancel(Absent.Key);
        }
    }

    private void Leave()
    {
        _log.Warning("no coordinator in the cluster for {0:0} s (it left): leaving, to join the seeds again", Absence.TotalSeconds);
        CoordinatedShutdown.Get(Context.System).Run(CoordinatedShutdown.ClusterLeavingReason.Instance);
    }

    private sealed class Absent
    {
        public const string Key = "coordinator-absent";

        public static readonly Absent Instance = new();
    }
}

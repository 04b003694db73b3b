using System.Net.Sockets;
using System.Security.Authentication;
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using CnnCluster.Security;
using CnnCluster.Shared.Hosting;

namespace CnnCluster.Shared.Security;

/// <summary>
/// Binds the cluster's roles to the certificates: Akka's roles are what a node says, so a member that says it is
/// a coordinator (and could host the run registry's singleton) must show a coordinator's certificate. Every node
/// with the cluster's trust probes each such member it sees join: a TLS handshake with the member's remoting port,
/// which presents its node certificate; one whose certificate does not name the coordinator's role is downed, in
/// one line. A member that cannot be reached now is probed again when it comes up.
/// </summary>
public sealed class MemberRoleCheck : ReceiveActor
{
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(10);
    private readonly ClusterTrust _trust;
    private readonly Akka.Cluster.Cluster _cluster = Akka.Cluster.Cluster.Get(Context.System);
    private readonly HashSet<UniqueAddress> _checked = new();
    private readonly ILoggingAdapter _log = Context.GetLogger();

    public MemberRoleCheck(ClusterTrust trust)
    {
        _trust = trust;
        Receive<ClusterEvent.MemberJoined>(m => Probe(m.Member));
        Receive<ClusterEvent.MemberUp>(m => Probe(m.Member));
        Receive<Verdict>(OnVerdict);
    }

    public static Props Props(ClusterTrust trust) => Akka.Actor.Props.Create(() => new MemberRoleCheck(trust));

    protected override void PreStart() =>
        _cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.MemberJoined), typeof(ClusterEvent.MemberUp));

    protected override void PostStop() => _cluster.Unsubscribe(Self);

    private void Probe(Member member)
    {
        if (!member.HasRole(Roles.Coordinator) || member.Address == _cluster.SelfAddress || !_checked.Add(member.UniqueAddress)
            || member.Address.Host is not { } host || member.Address.Port is not int port)
        {
            return;
        }

        IActorRef self = Self;
        ClusterTrust trust = _trust;
        _ = Task.Run(async () =>
        {
            (ProbeResult result, string why) = await Refusal(trust, host, port).ConfigureAwait(false);
            self.Tell(new Verdict(member, result, why));
        });
    }

    /// <summary>What the certificate of the node at host:port says (and why it is not a coordinator's).</summary>
    private static async Task<(ProbeResult Result, string Why)> Refusal(ClusterTrust trust, string host, int port)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        using var timeout = new CancellationTokenSource(ProbeTimeout);
        try
        {
            await socket.ConnectAsync(host, port, timeout.Token).ConfigureAwait(false);
            await using var ssl = await Tls.ClientAsync(new NetworkStream(socket, ownsSocket: false), host, trust, ProbeTimeout, timeout.Token, serverRole: NodeRole.Coordinator).ConfigureAwait(false);
            return (ProbeResult.Coordinator, "");
        }
        catch (AuthenticationException e)
        {
            return (ProbeResult.NotCoordinator, e.Message);
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException)
        {
            return (ProbeResult.Unreachable, e.Message);
        }
    }

    private void OnVerdict(Verdict v)
    {
        switch (v.Result)
        {
            case ProbeResult.Coordinator:
                return;
            case ProbeResult.Unreachable:
                _checked.Remove(v.Member.UniqueAddress); // not reachable now: probed again when it is up
                return;
            case ProbeResult.NotCoordinator:
                _log.Error("member {0} says it is a coordinator and its certificate does not: {1}; it is downed", v.Member.Address, TerminalText.Safe(v.Why));
                _cluster.Down(v.Member.Address);
                return;
        }
    }

    private enum ProbeResult
    {
        Coordinator,
        NotCoordinator,
        Unreachable,
    }

    private sealed record Verdict(Member Member, ProbeResult Result, string Why);
}

using System.Threading.Channels;
using Akka.Actor;
using Akka.Cluster;
using CnnCluster.PbmProtocol;
using static CnnCluster.Shared.Pbm.Describe;

namespace CnnCluster.Shared.Pbm;

/// <summary>
/// `cluster show | status | leader | leave | down -a ADDR [--force] | tail`, as Petabridge.Cmd's cluster palette prints them.
/// `down` refuses the node it runs on, and a reachable member unless --force.
/// </summary>
public sealed class ClusterPalette(ActorSystem system) : IPalette
{
    public PaletteInfo Info { get; } = new("cluster", "cluster membership of this node's cluster",
    [
        Command("show", "every member: address | [roles] | status | reachability | version", JsonOutput.Switch),
        Command("status", "this node's membership status", JsonOutput.Switch),
        Command("leader", "the current leader"),
        Command("leave", "this node leaves the cluster gracefully"),
        Command("down", "mark an unreachable member down (never this node; a reachable one only with --force)",
            Switch("address", "a", "the member's address, e.g. akka.tcp://cnncluster@127.0.0.1:4054", mandatory: true),
            Flag("force", "f", "down the member even though it is reachable")),
        Command("tail", "stream membership and reachability events until interrupted"),
    ]);

    private Akka.Cluster.Cluster Cluster => Akka.Cluster.Cluster.Get(system);

    private static Table<Member> Members(ClusterEvent.CurrentClusterState state) => new("nodes",
        new("Address", m => m.Address.ToString(), m => m.Address.ToString()),
        new("Roles", m => $"[{string.Join(",", m.Roles.Order())}]", m => m.Roles.Order().ToArray()),
        new("Status", m => m.Status.ToString(), m => m.Status.ToString()),
        new("Reachability", m => state.Unreachable.Contains(m) ? "Unreachable" : "Reachable", m => state.Unreachable.Contains(m) ? "Unreachable" : "Reachable"),
        new("Version", m => m.AppVersion.ToString(), m => m.AppVersion.ToString()));

    public async Task<int> ExecuteAsync(ParsedCommand command, ICommandOutput output, CancellationToken cancellation)
    {
        ClusterEvent.CurrentClusterState state = Cluster.State;
        switch (command.Info.Name)
        {
            case "show":
                Members(state).Write(command, output, state.Members.OrderBy(m => m.Address.ToString(), StringComparer.Ordinal).ToList(), $"Count: {state.Members.Count} nodes");
                return 0;
            case "status":
                output.Line(command.Has("json")
                    ? JsonOutput.Of(new { Address = Cluster.SelfAddress.ToString(), Status = Cluster.SelfMember.Status.ToString() })
                    : $"{Cluster.SelfAddress} | {Cluster.SelfMember.Status}");
                return 0;
            case "leader":
                output.Line(state.Leader?.ToString() ?? "no leader (the node has not joined a cluster)");
                return 0;
            case "leave":
                await Cluster.LeaveAsync(cancellation);
                output.Line($"{Cluster.SelfAddress} left the cluster");
                return 0;
            case "down":
                string text = command.Required("address");
                Address address;
                try
                {
                    address = Address.Parse(text);
                }
                catch (Exception e) when (e is UriFormatException or ArgumentException)
                {
                    throw new CommandException($"--address '{text}' is not an address like akka.tcp://cnncluster@127.0.0.1:4054");
                }

                if (!state.Members.Any(m => m.Address == address))
                {
                    throw new CommandException($"{address} is not a member; members: {string.Join(", ", state.Members.Select(m => m.Address))}");
                }

                // downing a member that still runs splits it from the cluster for good: only on purpose
                if (address == Cluster.SelfAddress)
                {
                    throw new CommandException($"{address} is this node: it cannot down itself; use `cluster leave` to take it out gracefully, or `cluster down` from another node");
                }

                if (!state.Unreachable.Any(m => m.Address == address) && !command.Has("force"))
                {
                    throw new CommandException($"{address} is reachable: down only unreachable members, or add --force to down a running member (it leaves the cluster for good)");
                }

                Cluster.Down(address);
                output.Line($"marked {address} down");
                return 0;
            default:
                return await Tail(output, cancellation);
        }
    }

    private async Task<int> Tail(ICommandOutput output, CancellationToken cancellation)
    {
        var events = Channel.CreateUnbounded<object>();
        IActorRef listener = system.ActorOf(ChannelForwarder.Props(events.Writer));
        Cluster.Subscribe(listener, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.IMemberEvent), typeof(ClusterEvent.IReachabilityEvent), typeof(ClusterEvent.LeaderChanged));
        try
        {
            await foreach (object e in events.Reader.ReadAllAsync(cancellation))
            {
                output.Line($"{DateTime.UtcNow:HH:mm:ss} {Format(e)}");
            }
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            Cluster.Unsubscribe(listener);
            system.Stop(listener);
        }

        return 0;
    }

    private static string Format(object e) => e switch
    {
        ClusterEvent.IMemberEvent m => $"{m.GetType().Name}: {m.Member.Address} [{string.Join(",", m.Member.Roles)}] {m.Member.Status}",
        ClusterEvent.UnreachableMember u => $"Unreachable: {u.Member.Address}",
        ClusterEvent.ReachableMember r => $"Reachable: {r.Member.Address}",
        ClusterEvent.LeaderChanged l => $"LeaderChanged: {l.Leader}",
        _ => e.ToString() ?? string.Empty,
    };
}

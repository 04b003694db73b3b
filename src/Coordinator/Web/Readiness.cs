using Akka.Actor;
using Akka.Cluster;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Web;

/// <summary>
/// /readyz: the node can serve runs when it is Up in the cluster, the run registry singleton answers
/// a <see cref="ListRuns"/> within <see cref="RegistryDeadline"/> and this process holds the store's lease.
/// The first check that fails is the one line the answer gives.
/// </summary>
public static class Readiness
{
    public static readonly TimeSpan RegistryDeadline = TimeSpan.FromSeconds(2);

    /// <summary>Null when ready, else why not.</summary>
    public static async Task<string?> ProblemAsync(ClusterView view, CancellationToken cancellation)
    {
        if (!view.TryGet(out ActorSystem system, out var registry))
        {
            return "the node is starting";
        }

        MemberStatus status = Akka.Cluster.Cluster.Get(system).SelfMember.Status;
        if (status != MemberStatus.Up)
        {
            return $"this node is {status.ToString().ToLowerInvariant()} in the cluster, not up";
        }

        if (!view.LeaseHeld)
        {
            return "this coordinator does not hold the store's lease";
        }

        try
        {
            await registry.Registry.Ask<RunList>(new ListRuns(), RegistryDeadline, cancellation);
        }
        catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
        {
            return $"the run registry did not answer within {RegistryDeadline.TotalSeconds:F0} s";
        }

        return null;
    }
}

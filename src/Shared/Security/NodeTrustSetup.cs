using CnnCluster.Security;
using Akka.Actor;
using Akka.Actor.Setup;

namespace CnnCluster.Shared.Security;

/// <summary>
/// The node's <see cref="ClusterTrust"/> as a setup of its actor system, so that whatever opens a
/// connection from inside an actor (a run's data-plane links, a worker's server and peer links) uses the
/// same trust as remoting without passing it through every constructor. No setup, or a null trust: plain TCP.
/// </summary>
public sealed class NodeTrustSetup(ClusterTrust? trust) : Setup
{
    public ClusterTrust? Trust { get; } = trust;

    /// <summary>The trust of <paramref name="system"/>'s node, or null.</summary>
    public static ClusterTrust? Of(ActorSystem system)
    {
        Akka.Util.Option<NodeTrustSetup> setup = system.Settings.Setup.Get<NodeTrustSetup>();
        return setup.HasValue ? setup.Value.Trust : null;
    }
}

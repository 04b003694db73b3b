using Akka.Actor;
using CnnCluster.Coordinator.Pbm;

namespace CnnCluster.Coordinator.Web;

/// <summary>
/// What the HTTP endpoint sees of the node: its actor system and the run registry's proxy, attached once
/// the actor system has started (Kestrel may answer a moment before: "starting"), and whether the node
/// still holds the store's lease.
/// </summary>
public sealed class ClusterView(Func<bool> leaseHeld)
{
    private volatile Attached? _attached;

    public bool LeaseHeld => leaseHeld();

    /// <summary>Called from the actor system's start (Akka.Hosting's WithActors), with the registry's singleton proxy.</summary>
    public void Attach(ActorSystem system, IActorRef registry) => _attached = new Attached(system, new RegistryClient(registry));

    /// <summary>The actor system and the registry client, or false while the node starts.</summary>
    public bool TryGet(out ActorSystem system, out RegistryClient registry)
    {
        Attached? attached = _attached;
        system = attached?.System!;
        registry = attached?.Registry!;
        return attached is not null;
    }

    private sealed record Attached(ActorSystem System, RegistryClient Registry);
}

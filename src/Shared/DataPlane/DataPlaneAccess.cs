using CnnCluster.Security;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Shared.DataPlane;

/// <summary>
/// Who may send what to a worker's data plane, by the role in the sender's certificate: what starts or
/// steers work (assignments, replicas, step plans) only the coordinator; slices the workers (and the
/// coordinator, which may do what a worker may); what a checked step's coordinator agrees on or asks for only it. Without the cluster's trust (loopback, no secrets) every
/// connection is this machine's own and nothing is refused here.
/// </summary>
public static class DataPlaneAccess
{
    /// <summary>The role a sender of <paramref name="message"/> needs.</summary>
    public static NodeRole Needed(IProtocolMessage message) => message switch
    {
        WorkAssignment or ReplicaInit or StepPlan or PartsAgreed or SumsAgreed or PartsRequest => NodeRole.Coordinator,
        _ => NodeRole.Worker,
    };

    /// <summary>Why a sender of role <paramref name="sender"/> may not send <paramref name="message"/>, or null when it may (and always without trust).</summary>
    public static string? Refusal(IProtocolMessage message, NodeRole? sender, bool trusted)
    {
        if (!trusted)
        {
            return null;
        }

        NodeRole needed = Needed(message);
        return sender is { } role && role.Permits(needed) ? null
            : $"a {message.GetType().Name} comes only from the {needed.Name()}, and this connection holds {(sender is null ? "no role" : $"the {sender.Value.Name()}'s certificate")}";
    }
}

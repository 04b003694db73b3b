namespace CnnCluster.Security;

/// <summary>
/// What a certificate of the cluster lets its holder be. The role is in the certificate (a subject
/// alternative name URI, <see cref="NodeRoles.Uri"/>), so a peer's role is what the cluster's authority
/// said it is, not what the peer claims. The coordinator may do whatever a worker may (a coordinator that
/// hosts workers serves their data plane with its own certificate); a worker may not act as the coordinator.
/// </summary>
public enum NodeRole
{
    /// <summary>The coordinator: runs, their steps and plans, pbm and HTTP for operators, the database.</summary>
    Coordinator,

    /// <summary>A worker: computes its nodes, sums the slices it owns, exchanges them with its peers.</summary>
    Worker,
}

public static class NodeRoles
{
    private const string Prefix = "cnncluster:role:";

    /// <summary>The name of a role as in its folder, its URI and messages: coordinator, worker.</summary>
    public static string Name(this NodeRole role) => role switch
    {
        NodeRole.Coordinator => "coordinator",
        NodeRole.Worker => "worker",
        _ => throw new ArgumentOutOfRangeException(nameof(role)),
    };

    /// <summary>The subject alternative name URI that carries the role, e.g. cnncluster:role:worker.</summary>
    public static string Uri(this NodeRole role) => Prefix + role.Name();

    /// <summary>The role a SAN URI names, or null when it names none.</summary>
    public static NodeRole? FromUri(string uri) =>
        Enum.GetValues<NodeRole>().Select(r => (NodeRole?)r).FirstOrDefault(r => string.Equals(r!.Value.Uri(), uri, StringComparison.Ordinal));

    /// <summary>True when a holder of <paramref name="role"/> may do what <paramref name="needed"/> may.</summary>
    public static bool Permits(this NodeRole role, NodeRole needed) => role == needed || role == NodeRole.Coordinator;
}

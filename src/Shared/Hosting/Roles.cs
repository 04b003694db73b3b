namespace CnnCluster.Shared.Hosting;

/// <summary>Cluster roles (DESIGN §5).</summary>
public static class Roles
{
    public const string Coordinator = "coordinator";
    public const string Worker = "worker";
}

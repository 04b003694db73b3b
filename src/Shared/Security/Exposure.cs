using CnnCluster.Security;

namespace CnnCluster.Shared.Security;

/// <summary>
/// The rule every port that serves people (pbm, the coordinator's HTTP endpoint) keeps when it listens beyond
/// loopback: it needs the cluster's token, and TLS unless CLUSTER_INSECURE=1 (then a warning line).
/// </summary>
public static class Exposure
{
    /// <summary>
    /// Checks <paramref name="variable"/>=<paramref name="host"/> for <paramref name="service"/> (which carries
    /// <paramref name="what"/>); throws <see cref="ArgumentException"/> with one line saying how to fix it, or
    /// returns the warning of an insecure listener (null when there is nothing to warn of).
    /// </summary>
    public static string? Check(string variable, string host, int port, string service, string what, ClusterTrust? trust, TokenDigest? token, Func<string, string?> env)
    {
        if (Hosting.NodeSettings.IsLoopback(host))
        {
            return null;
        }

        if (token is null)
        {
            throw new ArgumentException(
                $"{variable}={host} is reachable beyond this machine, so {service} needs a token: set PBM_TOKEN or PBM_TOKEN_FILE, " +
                $"or CLUSTER_SECRETS (the digest of pbm's token), or {variable}=127.0.0.1");
        }

        if (trust is not null)
        {
            return null;
        }

        if (env("CLUSTER_INSECURE")?.Trim() != "1")
        {
            throw new ArgumentException(
                $"{variable}={host} is reachable beyond this machine without TLS, so its token and {what} would cross the network in the clear: " +
                $"set CLUSTER_SECRETS to the folder `coordinator secrets --out DIR` wrote, or {variable}=127.0.0.1, or CLUSTER_INSECURE=1 on a network you trust");
        }

        return $"warning: CLUSTER_INSECURE=1: {service} listens on {host}:{port} without TLS; its token and {what} cross the network in the clear";
    }
}

using CnnCluster.Security;
using System.Globalization;

namespace CnnCluster.Shared.Hosting;

/// <summary>
/// Where a node listens and whom it joins, from the environment (the same names in docker-compose):
/// CLUSTER_HOSTNAME (address others reach this node at, default 127.0.0.1; `auto`: this host's first
/// non-loopback IPv4 address, for scaled containers), CLUSTER_BIND (address to
/// bind, default CLUSTER_HOSTNAME), CLUSTER_PORT, CLUSTER_SEEDS (comma-separated host:port or
/// akka[.ssl].tcp://cnncluster@host:port; default: this node itself), CLUSTER_SECRETS (the folder of
/// `coordinator secrets`: remoting and the data plane use mutual TLS with the cluster's authority) and
/// CLUSTER_INSECURE=1 (allows a node beyond loopback without TLS, on a network the operator trusts).
/// A node that binds or advertises an address beyond loopback without TLS refuses to start unless
/// CLUSTER_INSECURE=1 says so.
/// </summary>
public sealed record NodeSettings(string Hostname, string Bind, int Port, IReadOnlyList<string> Seeds)
{
    public const string SystemName = "cnncluster";

    /// <summary>The cluster's trust (mutual TLS for remoting and the data plane), or null: plain TCP.</summary>
    public ClusterTrust? Trust { get; init; }

    /// <summary>True when this node is reachable beyond loopback without TLS (CLUSTER_INSECURE=1 allowed it).</summary>
    public bool Unencrypted => Trust is null && !(IsLoopback(Bind) && IsLoopback(Hostname));

    /// <summary>The start-up warning of an <see cref="Unencrypted"/> node, or of one whose certificate ends soon; else null.</summary>
    public string? Warning => Unencrypted
        ? $"warning: CLUSTER_INSECURE=1: this node listens on {Bind}:{Port} without TLS; anyone who reaches that port can join the cluster, read the model and send it work"
        : Trust?.ExpiryWarning;

    public static NodeSettings FromEnvironment(NodeRole role, int defaultPort, Func<string, string?>? env = null)
    {
        env ??= Environment.GetEnvironmentVariable;
        string hostname = NonEmpty(env("CLUSTER_HOSTNAME")) ?? "127.0.0.1";
        if (hostname == "auto")
        {
            // a scaled container has no name of its own that others resolve: use its address
            hostname = OwnAddress();
        }

        string bind = NonEmpty(env("CLUSTER_BIND")) ?? hostname;
        int port = PortFrom(env, "CLUSTER_PORT", defaultPort);

        ClusterTrust? trust = ClusterTrust.FromEnvironment(role, env);
        IReadOnlyList<string> seeds = NonEmpty(env("CLUSTER_SEEDS")) is string s
            ? s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(seed => ParseSeed(seed, trust is not null)).ToArray()
            : [];
        var settings = new NodeSettings(hostname, bind, port, seeds) { Trust = trust };
        if (settings.Unencrypted && NonEmpty(env("CLUSTER_INSECURE")) != "1")
        {
            throw new ArgumentException(
                $"this node would listen on {bind} (reached as {hostname}) without TLS, so anyone on that network could join the cluster: " +
                "set CLUSTER_SECRETS to the folder `coordinator secrets --out DIR` wrote (every node the same), " +
                "or bind to 127.0.0.1, or set CLUSTER_INSECURE=1 on a network you trust");
        }

        return settings;
    }

    /// <summary>127.0.0.0/8, ::1 or localhost: reachable from this machine only.</summary>
    public static bool IsLoopback(string host) =>
        string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)
        || (System.Net.IPAddress.TryParse(host, out System.Net.IPAddress? address) && System.Net.IPAddress.IsLoopback(address));

    /// <summary>"host:port" or a full Akka address, as a full address of our actor system (akka.ssl.tcp with TLS).</summary>
    public static string ParseSeed(string seed, bool tls = false)
    {
        string scheme = Scheme(tls);
        foreach (string known in new[] { Scheme(false), Scheme(true) })
        {
            if (seed.StartsWith(known + "://", StringComparison.Ordinal))
            {
                return known == scheme
                    ? seed
                    : throw new ArgumentException($"CLUSTER_SEEDS entry '{seed}' is {known}, but this node uses {scheme} ({(tls ? "CLUSTER_SECRETS is set" : "no CLUSTER_SECRETS")}): write it as host:port");
            }
        }

        int colon = seed.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(seed[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port is 0 or > 65535)
        {
            throw new ArgumentException($"CLUSTER_SEEDS entry '{seed}' is not host:port or {scheme}://{SystemName}@host:port");
        }

        return $"{scheme}://{SystemName}@{seed[..colon]}:{port}";
    }

    /// <summary>Akka's protocol of a node: DotNetty's TLS transport registers itself as akka.ssl.tcp.</summary>
    public static string Scheme(bool tls) => tls ? "akka.ssl.tcp" : "akka.tcp";

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    /// <summary>A listening port from <paramref name="variable"/> (0 picks a free one), or <paramref name="fallback"/> when unset.</summary>
    public static int PortFrom(Func<string, string?> env, string variable, int fallback)
    {
        int port = fallback;
        if (NonEmpty(env(variable)) is string p && (!int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port > 65535))
        {
            throw new ArgumentException($"{variable} '{p}' is not a port number (0-65535; 0 picks a free one)");
        }

        return port;
    }

    private static string OwnAddress()
    {
        System.Net.IPAddress? address = System.Net.Dns.GetHostAddresses(System.Net.Dns.GetHostName())
            .FirstOrDefault(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && !System.Net.IPAddress.IsLoopback(a));
        return address?.ToString() ?? throw new ArgumentException("CLUSTER_HOSTNAME=auto: this host has no non-loopback IPv4 address; set CLUSTER_HOSTNAME");
    }
}

using System.Globalization;

namespace CnnCluster.Shared.Hosting;

/// <summary>
/// Where a node listens and whom it joins, from the environment (the same names in docker-compose):
/// CLUSTER_HOSTNAME (address others reach this node at, default 127.0.0.1; `auto`: this host's first
/// non-loopback IPv4 address, for scaled containers), CLUSTER_BIND (address to
/// bind, default CLUSTER_HOSTNAME), CLUSTER_PORT, CLUSTER_SEEDS (comma-separated host:port or
/// akka.tcp://cnncluster@host:port; default: this node itself).
/// </summary>
public sealed record NodeSettings(string Hostname, string Bind, int Port, IReadOnlyList<string> Seeds)
{
    public const string SystemName = "cnncluster";

    public static NodeSettings FromEnvironment(int defaultPort, Func<string, string?>? env = null)
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

        IReadOnlyList<string> seeds = NonEmpty(env("CLUSTER_SEEDS")) is string s
            ? s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(ParseSeed).ToArray()
            : [];
        return new NodeSettings(hostname, bind, port, seeds);
    }

    /// <summary>"host:port" or a full Akka address, as a full address of our actor system.</summary>
    public static string ParseSeed(string seed)
    {
        if (seed.StartsWith("akka.tcp://", StringComparison.Ordinal))
        {
            return seed;
        }

        int colon = seed.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(seed[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port is 0 or > 65535)
        {
            throw new ArgumentException($"CLUSTER_SEEDS entry '{seed}' is not host:port or akka.tcp://{SystemName}@host:port");
        }

        return $"akka.tcp://{SystemName}@{seed[..colon]}:{port}";
    }

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

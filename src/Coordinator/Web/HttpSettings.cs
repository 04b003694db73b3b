using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using CnnCluster.Shared.Hosting;
using CnnCluster.Shared.Pbm;
using CnnCluster.Security;
using CnnCluster.Shared.Security;

namespace CnnCluster.Coordinator.Web;

/// <summary>
/// Where the coordinator's HTTP endpoint (health, /metrics, the dashboard) listens and whom it lets in, under
/// pbm's trust rules (<see cref="PbmHostSettings"/>): HTTP_HOST (default 127.0.0.1), HTTP_PORT (default 9111,
/// 0: no endpoint), TLS with the node certificate when CLUSTER_SECRETS is set. On loopback the machine is
/// the boundary and everything is open; beyond it every path but /healthz and /readyz needs pbm's token, and
/// TLS unless CLUSTER_INSECURE=1 (then <see cref="Warning"/> says so). <see cref="FromEnvironment"/> throws an
/// <see cref="ArgumentException"/> saying how to fix a setting that breaks these rules.
/// </summary>
public sealed record HttpSettings(string Host, int Port)
{
    public const int DefaultPort = 9111;

    /// <summary>The token every request but the health checks must show; null: open (loopback).</summary>
    public TokenDigest? Token { get; init; }

    /// <summary>The cluster's trust: HTTPS with the node certificate; null: plain HTTP.</summary>
    public ClusterTrust? Trust { get; init; }

    /// <summary>The start-up warning of an endpoint beyond loopback without TLS (CLUSTER_INSECURE=1), or null.</summary>
    public string? Warning { get; init; }

    /// <summary>HTTP_PORT=0: `serve` runs without the endpoint.</summary>
    public bool Enabled => Port != 0;

    public string Scheme => Trust is null ? "http" : "https";

    public static HttpSettings FromEnvironment(Func<string, string?>? env = null)
    {
        env ??= Environment.GetEnvironmentVariable;
        string host = string.IsNullOrWhiteSpace(env("HTTP_HOST")) ? "127.0.0.1" : env("HTTP_HOST")!.Trim();
        int port = PortOf(env);
        if (port == 0)
        {
            return new HttpSettings(host, 0);
        }

        ClusterTrust? trust = ClusterTrust.FromEnvironment(NodeRole.Coordinator, env);
        TokenDigest? token = NodeSettings.IsLoopback(host) ? null : SecretFiles.ReadTokenDigest(env, NodeRole.Coordinator);
        string? warning = Exposure.Check("HTTP_HOST", host, port, "the HTTP endpoint (dashboard, /metrics)", "runs", trust, token, env);
        return new HttpSettings(host, port) { Token = token, Trust = trust, Warning = warning };
    }

    /// <summary>HTTP_PORT, or the default; a port that is not a number is an <see cref="ArgumentException"/>.</summary>
    public static int PortOf(Func<string, string?> env)
    {
        int port = DefaultPort;
        if (env("HTTP_PORT") is { Length: > 0 } p && (!int.TryParse(p.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out port) || port > 65535))
        {
            throw new ArgumentException($"HTTP_PORT '{p}' is not a port number (0-65535; 0 turns the HTTP endpoint off)");
        }

        return port;
    }

    /// <summary>True when <paramref name="given"/> opens this endpoint: in constant time over SHA-256 of both, as pbm compares.</summary>
    public bool Admits(string? given) => Token is null || Token.Admits(given);

    /// <summary>HTTP_HOST as an address of this machine (an <see cref="ArgumentException"/> if it is none).</summary>
    public IPAddress Address()
    {
        try
        {
            return IPAddress.TryParse(Host, out IPAddress? ip) ? ip
                : string.Equals(Host, "localhost", StringComparison.OrdinalIgnoreCase) ? IPAddress.Loopback
                : Dns.GetHostAddresses(Host).First(a => a.AddressFamily == AddressFamily.InterNetwork);
        }
        catch (Exception e) when (e is SocketException or InvalidOperationException)
        {
            throw new ArgumentException($"HTTP_HOST '{Host}' is not an address of this machine");
        }
    }

    /// <summary>
    /// Binds HTTP_HOST:HTTP_PORT for a moment, so that a taken port is one line and no start (an
    /// <see cref="ArgumentException"/>), like pbm's; Kestrel binds it for good when the node starts.
    /// </summary>
    public void CheckPort()
    {
        using var listener = new TcpListener(Address(), Port);
        try
        {
            listener.Start();
        }
        catch (SocketException e)
        {
            throw TakenPort(e.Message);
        }
        finally
        {
            listener.Stop();
        }
    }

    public ArgumentException TakenPort(string why) =>
        new($"the HTTP endpoint cannot listen on {Host}:{Port}: {why}; set HTTP_PORT to a free port, or 0 to turn it off");
}

using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using CnnCluster.Shared.Hosting;
using CnnCluster.Security;
using CnnCluster.Shared.Security;

namespace CnnCluster.Shared.Pbm;

/// <summary>
/// Where a node's pbm command host listens and whom it lets in: PBM_HOST (default 127.0.0.1), PBM_PORT
/// (default 9110), the token from PBM_TOKEN, else the file PBM_TOKEN_FILE, else the digest of it in CLUSTER_SECRETS (pbm.token.sha256),
/// and TLS with the node certificate when CLUSTER_SECRETS is set (clients are not asked for a certificate).
/// A host beyond loopback requires a token, and TLS unless CLUSTER_INSECURE=1 (then <see cref="Warning"/>
/// says so); otherwise <see cref="FromEnvironment"/> throws an <see cref="ArgumentException"/> saying how to fix it.
/// </summary>
public sealed record PbmHostSettings(string Host, int Port, TokenDigest? Token)
{
    public const int DefaultPort = 9110;

    /// <summary>Failed hellos (missing or wrong token) from one address within <see cref="FailedHelloWindow"/> after which its connections are refused.</summary>
    public const int MaxFailedHellos = 5;

    public static readonly TimeSpan FailedHelloWindow = TimeSpan.FromSeconds(60);

    /// <summary>The cluster's trust: pbm speaks TLS with the node certificate; null: plain TCP.</summary>
    public ClusterTrust? Trust { get; init; }

    /// <summary>The start-up warning of a host beyond loopback without TLS (CLUSTER_INSECURE=1), or null.</summary>
    public string? Warning { get; init; }

    /// <summary>True when <paramref name="token"/> opens this host: in constant time over SHA-256 of both, so neither its bytes nor its length leak.</summary>
    public bool Admits(string? token) => Token is null || Token.Admits(token);

    public static PbmHostSettings FromEnvironment(NodeRole role, int defaultPort = DefaultPort, Func<string, string?>? env = null)
    {
        env ??= Environment.GetEnvironmentVariable;
        string host = string.IsNullOrWhiteSpace(env("PBM_HOST")) ? "127.0.0.1" : env("PBM_HOST")!.Trim();
        int port = defaultPort;
        if (env("PBM_PORT") is { Length: > 0 } p && (!int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port > 65535))
        {
            throw new ArgumentException($"PBM_PORT '{p}' is not a port number (0-65535)");
        }

        ClusterTrust? trust = ClusterTrust.FromEnvironment(role, env);
        TokenDigest? token = SecretFiles.ReadTokenDigest(env, role);
        string? warning = Exposure.Check("PBM_HOST", host, port, "pbm", "commands", trust, token, env);
        return new PbmHostSettings(host, port, token) { Trust = trust, Warning = warning };
    }

    /// <summary>
    /// Binds PBM_HOST:PBM_PORT now, so that a node whose port is taken says so in one line and does not
    /// start (an <see cref="ArgumentException"/>); the caller owns the listener.
    /// </summary>
    public TcpListener Listen()
    {
        IPAddress address;
        try
        {
            address = IPAddress.TryParse(Host, out IPAddress? ip) ? ip
                : string.Equals(Host, "localhost", StringComparison.OrdinalIgnoreCase) ? IPAddress.Loopback
                : Dns.GetHostAddresses(Host).First(a => a.AddressFamily == AddressFamily.InterNetwork);
        }
        catch (Exception e) when (e is SocketException or InvalidOperationException)
        {
            throw new ArgumentException($"PBM_HOST '{Host}' is not an address of this machine");
        }

        var listener = new TcpListener(address, Port);
        try
        {
            listener.Start();
        }
        catch (SocketException e)
        {
            listener.Dispose();
            throw new ArgumentException($"pbm cannot listen on {Host}:{Port}: {e.Message}; set PBM_PORT to a free port");
        }

        return listener;
    }
}

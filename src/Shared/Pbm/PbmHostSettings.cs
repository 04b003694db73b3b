using System.Globalization;

namespace CnnCluster.Shared.Pbm;

/// <summary>Where a node's pbm command host listens: PBM_HOST (default 127.0.0.1), PBM_PORT (default 9110), PBM_TOKEN (optional).</summary>
public sealed record PbmHostSettings(string Host, int Port, string? Token)
{
    public const int DefaultPort = 9110;

    public static PbmHostSettings FromEnvironment(int defaultPort = DefaultPort, Func<string, string?>? env = null)
    {
        env ??= Environment.GetEnvironmentVariable;
        string host = string.IsNullOrWhiteSpace(env("PBM_HOST")) ? "127.0.0.1" : env("PBM_HOST")!.Trim();
        int port = defaultPort;
        if (env("PBM_PORT") is { Length: > 0 } p && (!int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port > 65535))
        {
            throw new ArgumentException($"PBM_PORT '{p}' is not a port number (0-65535)");
        }

        string? token = string.IsNullOrEmpty(env("PBM_TOKEN")) ? null : env("PBM_TOKEN");
        return new PbmHostSettings(host, port, token);
    }
}

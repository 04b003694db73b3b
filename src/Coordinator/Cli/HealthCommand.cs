using System.CommandLine;
using System.Net.Http;
using CnnCluster.Coordinator.Web;
using CnnCluster.Shared.Hosting;
using CnnCluster.Security;

namespace CnnCluster.Coordinator.Cli;

/// <summary>
/// `health [--live]`: asks this machine's coordinator (`serve`) whether it is ready (/readyz) or, with
/// --live, alive (/healthz), on HTTP_PORT (default 9111) of HTTP_HOST when that is a single address, else
/// 127.0.0.1; over HTTPS checked against the cluster's CA when CLUSTER_SECRETS is set (as `serve` then
/// serves it). One line, exit 0 when it is, 1 when it is not: a container's HEALTHCHECK (the image has no curl).
/// </summary>
internal static class HealthCommand
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    private static readonly Option<bool> Live = new("--live") { Description = "only whether the process answers (/healthz), not whether it is ready (/readyz)" };

    public static Command Create()
    {
        var command = new Command("health", "is this machine's coordinator ready? one line, exit 0 (yes) or 1 (no)");
        command.Options.Add(Live);
        command.SetAction(p => Check(p.GetValue(Live)));
        return command;
    }

    private static int Check(bool live)
    {
        int port = HttpSettings.PortOf(Environment.GetEnvironmentVariable);
        if (port == 0)
        {
            throw new ArgumentException("HTTP_PORT=0: this coordinator serves no HTTP endpoint to ask");
        }

        string? host = Environment.GetEnvironmentVariable("HTTP_HOST")?.Trim();
        host = string.IsNullOrEmpty(host) || host is "0.0.0.0" or "::" or "[::]" ? "127.0.0.1" : host;
        ClusterTrust? trust = ClusterTrust.FromEnvironment(NodeRole.Coordinator);
        using var handler = new HttpClientHandler();
        if (trust is not null)
        {
            // the coordinator's certificate is the cluster's own: checked against its CA and role, not the system's roots, and not by name
            handler.ServerCertificateCustomValidationCallback = (_, certificate, _, _) => trust.Admits(certificate, NodeRole.Coordinator, out _);
        }

        using var client = new HttpClient(handler) { Timeout = Timeout };
        string url = $"{(trust is null ? "http" : "https")}://{(host.Contains(':') && !host.StartsWith('[') ? $"[{host}]" : host)}:{port}/{(live ? "healthz" : "readyz")}";
        try
        {
            using HttpResponseMessage response = client.GetAsync(url).GetAwaiter().GetResult();
            string body = response.Content.ReadAsStringAsync().GetAwaiter().GetResult().Trim().ReplaceLineEndings(" ");
            Console.Out.WriteLine($"{url}: {(int)response.StatusCode} {body}");
            return response.IsSuccessStatusCode ? 0 : 1;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            string why = e is TaskCanceledException ? $"no answer within {Timeout.TotalSeconds:F0} s" : e.GetBaseException().Message;
            Console.Out.WriteLine($"{url}: {why}");
            return 1;
        }
    }
}

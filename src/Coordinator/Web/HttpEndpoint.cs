using System.Security.Authentication;
using CnnCluster.Coordinator.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;

namespace CnnCluster.Coordinator.Web;

/// <summary>
/// The coordinator's HTTP endpoint in the node's own host (<see cref="Local.NodeHost"/>): Kestrel on
/// <see cref="HttpSettings"/>' address (HTTPS with the node certificate when the cluster has secrets), the
/// token check beyond loopback, GET /healthz (the process is up), GET /readyz (<see cref="Readiness"/>),
/// GET /metrics (the <see cref="ClusterMeters"/> in Prometheus' text format, through OpenTelemetry), the JSON
/// under /api/ and the dashboard at /.
/// </summary>
public sealed class HttpEndpoint(HttpSettings settings, ClusterView view)
{
    public HttpSettings Settings => settings;

    public ClusterView View => view;

    public void Configure(WebApplicationBuilder builder)
    {
        // the only listener is ours: a base image's ASPNETCORE_HTTP_PORTS/URLS would make Kestrel warn at every start
        // that it overrides them
        builder.WebHost.UseSetting(WebHostDefaults.HttpPortsKey, "").UseSetting(WebHostDefaults.HttpsPortsKey, "").UseSetting(WebHostDefaults.ServerUrlsKey, "");
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Listen(settings.Address(), settings.Port, listen =>
            {
                if (settings.Trust?.Certificate is { } certificate)
                {
                    listen.UseHttps(new HttpsConnectionAdapterOptions { ServerCertificate = certificate, SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13 });
                }
            });
        });
        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics.AddMeter(ClusterMeters.MeterName).AddPrometheusExporter());
    }

    public void Map(WebApplication app)
    {
        app.UseTokenCheck(settings);
        app.MapGet("/healthz", () => Results.Text("ok\n"));
        app.MapGet("/readyz", async (CancellationToken c) => await Readiness.ProblemAsync(view, c) is string problem
            ? Results.Text($"not ready: {problem}\n", statusCode: StatusCodes.Status503ServiceUnavailable)
            : Results.Text("ready\n"));
        app.MapPrometheusScrapingEndpoint("/metrics");
        app.MapApi(view);
        app.MapGet("/", DashboardPage.Serve);
    }
}

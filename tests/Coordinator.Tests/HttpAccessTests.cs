using System.Net;
using System.Net.Http.Headers;
using CnnCluster.Security;
using Xunit;

namespace CnnCluster.Coordinator.Tests;

/// <summary>
/// The coordinator's HTTP endpoint beyond loopback (a real `serve` with the cluster's secrets, HTTPS checked
/// against its CA and role, on 127.0.0.1): without the token a request is refused, wrong tokens past the
/// limit are answered 429 with Retry-After, and the right token still gets in from that very address.
/// </summary>
public sealed class HttpAccessTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("http-access-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task WrongTokensPastTheLimitAre429ButTheRightTokenStillGetsIn()
    {
        string secrets = Path.Combine(_dir, "secrets");
        ClusterSecrets.Ensure(secrets);
        int httpPort = TrainProcesses.FreePort();
        using ChildProcess serve = ChildProcess.Serve(0, TrainProcesses.FreePort(), new Dictionary<string, string>
        {
            ["CLUSTER_PORT"] = TrainProcesses.FreePort().ToString(),
            ["CLUSTER_SECRETS"] = secrets,
            ["HTTP_HOST"] = "0.0.0.0",
            ["HTTP_PORT"] = httpPort.ToString(),
            ["PERSISTENCE_PROVIDER"] = "SQLite.MS",
            ["PERSISTENCE_CONNECTION"] = $"Data Source={Path.Combine(_dir, "runs.db")}",
        });
        ClusterTrust pbm = ClusterTrust.AuthorityOnly(Path.Combine(secrets, "pbm", "ca.crt"));
        using var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, c, _, _) => pbm.Admits(c, NodeRole.Coordinator, out _) };
        using var http = new HttpClient(handler) { BaseAddress = new Uri($"https://127.0.0.1:{httpPort}/"), Timeout = TimeSpan.FromSeconds(20) };
        await WaitUntilServing(http);
        string token = SecretFiles.ReadSecret(Path.Combine(secrets, "pbm", "pbm.token"));

        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("healthz")).StatusCode); // open to probes
        Assert.Equal(HttpStatusCode.Unauthorized, (await Get(http, "api/runs", null)).StatusCode);
        for (int i = 1; i < Shared.Pbm.PbmHostSettings.MaxFailedHellos; i++)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await Get(http, "api/runs", "wrong")).StatusCode);
        }

        using HttpResponseMessage throttled = await Get(http, "api/runs", "wrong again");
        Assert.Equal(HttpStatusCode.TooManyRequests, throttled.StatusCode);
        Assert.True(throttled.Headers.RetryAfter?.Delta > TimeSpan.Zero);
        Assert.StartsWith("too many failed attempts from 127.0.0.1; try again in ", await throttled.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, (await Get(http, "api/runs", token)).StatusCode);
        Assert.Contains("they are answered 429 for a while (the right token still gets in)", serve.Stdout + serve.Stderr);
    }

    private static async Task<HttpResponseMessage> Get(HttpClient http, string path, string? token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return await http.SendAsync(request);
    }

    private static async Task WaitUntilServing(HttpClient http)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            try
            {
                await http.GetAsync("healthz");
                return;
            }
            catch (HttpRequestException) when (clock.Elapsed < TimeSpan.FromSeconds(60))
            {
                await Task.Delay(200);
            }
        }
    }
}

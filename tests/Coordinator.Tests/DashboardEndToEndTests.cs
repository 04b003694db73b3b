using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Xunit;

namespace CnnCluster.Coordinator.Tests;

/// <summary>
/// The coordinator's HTTP endpoint on the shared `serve` node (<see cref="ServeNode"/>): health, readiness,
/// /metrics counting a run submitted through pbm while it trains, and the dashboard as a person sees it,
/// in a real headless Chromium (the DOM after its script ran, and a screenshot).
/// </summary>
public sealed partial class PbmEndToEndTests
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };

    [Fact]
    public void TheHttpEndpointIsHealthyCountsTheStepsOfARunAndItsDashboardDrawsIt()
    {
        string chromium = Chromium();
        string Url(string path) => $"http://127.0.0.1:{node.HttpPort}{path}";
        (HttpStatusCode Status, string Body) Get(string path)
        {
            using HttpResponseMessage r = Http.GetAsync(Url(path)).GetAwaiter().GetResult();
            return (r.StatusCode, r.Content.ReadAsStringAsync().GetAwaiter().GetResult());
        }

        Assert.Equal((HttpStatusCode.OK, "ok\n"), Get("/healthz"));
        var clock = Stopwatch.StartNew();
        while (Get("/readyz").Status != HttpStatusCode.OK && clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            Thread.Sleep(200);
        }

        Assert.Equal((HttpStatusCode.OK, "ready\n"), Get("/readyz"));

        // long enough to be running through the scrapes and the browser's visit; stopped at the end
        var submit = node.Pbm("train", "submit", "-m", "lenet5", "--steps", "20000", "-e", "100", "--limit", "4096", "-b", "32", "--seed", "3");
        Assert.True(submit.Code == 0, submit.Stderr);
        string id = submit.Stdout.Trim().Split('\n')[^1].Trim();
        try
        {
            long Steps()
            {
                (HttpStatusCode status, string text) = Get("/metrics");
                Assert.Equal(HttpStatusCode.OK, status);
                Match m = Regex.Match(text, @"^cnncluster_steps_total(?:\{[^}]*\})? (\S+)$", RegexOptions.Multiline);
                return m.Success ? (long)double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
            }

            long before = 0;
            clock.Restart();
            while ((before = Steps()) == 0 && clock.Elapsed < TimeSpan.FromSeconds(60))
            {
                Thread.Sleep(200);
            }

            Thread.Sleep(1000);
            long after = Steps();
            output.WriteLine($"/metrics: cnncluster_steps_total {before} then {after} a second later");
            Assert.True(before > 0 && after > before, $"cnncluster_steps_total did not grow during the run: {before} then {after}");
            string metrics = Get("/metrics").Body;
            foreach (string name in new[] { "cnncluster_images_total", "cnncluster_step_phase_seconds_bucket", "cnncluster_dataplane_sent_bytes_total", "cnncluster_workers", "cnncluster_runs" })
            {
                Assert.Contains(name, metrics);
            }

            Assert.Matches(@"cnncluster_runs\{[^}]*state=""running""\} [1-9]", metrics);

            // the page after its script ran: the run, its state, and its loss curve as an SVG path of several points
            string folder = Path.Combine(Out, "chromium");
            (int code, string dom, string err) = Browse(chromium, folder, "--dump-dom", Url($"/?run={id}"));
            Assert.True(code == 0, err);
            Assert.Contains($"data-run=\"{id}\"", dom);
            Assert.Matches($@"<tr class=""run selected"" data-run=""{Regex.Escape(id)}""><td>{Regex.Escape(id)}</td><td>lenet5</td><td class=""state-running"">running</td>", dom);
            Match curve = Regex.Match(dom, @"<svg id=""loss-chart""[^>]*>.*?<path d=""M[^""]+"" class=""curve"" data-points=""(\d+)""", RegexOptions.Singleline);
            Assert.True(curve.Success, "no loss curve in the dashboard's DOM");
            Assert.True(int.Parse(curve.Groups[1].Value, CultureInfo.InvariantCulture) >= 2, $"the loss curve has {curve.Groups[1].Value} points");
            Assert.Contains("worker-0", dom);

            string png = Path.Combine(folder, "dashboard.png");
            (code, _, err) = Browse(chromium, folder, $"--screenshot={png}", "--window-size=1280,900", Url($"/?run={id}"));
            Assert.True(code == 0, err);
            byte[] image = File.ReadAllBytes(png);
            Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], image[..4]);
            Assert.True(image.Length > 20_000, $"a screenshot of {image.Length} bytes shows next to nothing");
            File.Copy(png, Path.Combine(Path.GetTempPath(), "dashboard.png"), overwrite: true);
            output.WriteLine($"dashboard: {image.Length:N0} bytes, copied to {Path.Combine(Path.GetTempPath(), "dashboard.png")}");
        }
        finally
        {
            node.Pbm("train", "stop", "-r", id);
        }
    }

    /// <summary>Debian's chromium: the tests need it (a missing one fails them, it does not skip them).</summary>
    private static string Chromium()
    {
        string? found = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':')
            .SelectMany(d => new[] { Path.Combine(d, "chromium"), Path.Combine(d, "chromium-browser") })
            .FirstOrDefault(File.Exists);
        return found ?? throw new Xunit.Sdk.XunitException("chromium is not installed: `scripts/setup.sh --test-deps` installs it (Debian's package chromium)");
    }

    /// <summary>Headless Chromium on one page: its own profile, a few seconds of the page's time for its polls, then the output.</summary>
    private static (int Code, string Stdout, string Stderr) Browse(string chromium, string folder, params string[] args)
    {
        var psi = new ProcessStartInfo(chromium)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in (string[])["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", $"--user-data-dir={Path.Combine(folder, "profile")}", "--virtual-time-budget=4000", .. args])
        {
            psi.ArgumentList.Add(a);
        }

        using Process p = Process.Start(psi)!;
        Task<string> stdout = p.StandardOutput.ReadToEndAsync();
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"chromium did not finish within 60 s: {string.Join(" ", args)}");
        }

        return (p.ExitCode, stdout.GetAwaiter().GetResult(), stderr.GetAwaiter().GetResult());
    }
}

using System.Net;
using System.Net.Sockets;
using CnnCluster.PbmProtocol;
using CnnCluster.Security;
using Xunit;

namespace CnnCluster.Coordinator.Tests;

/// <summary>A `serve` node with the cluster's secrets (CLUSTER_SECRETS): pbm over TLS, the token from its pbm/ folder (the node itself holds only its digest).</summary>
public sealed class TlsServeNode : IDisposable
{
    public TlsServeNode()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("serve-tls-").FullName;
        Secrets = Path.Combine(Directory, "secrets");
        ClusterSecrets.Ensure(Secrets);
        ClusterPort = TrainProcesses.FreePort();
        PbmPort = TrainProcesses.FreePort();
        Process = ChildProcess.Serve(0, PbmPort, new Dictionary<string, string>
        {
            ["CNN_LOG_LEVEL"] = "Information",
            ["CLUSTER_PORT"] = ClusterPort.ToString(),
            ["CLUSTER_SECRETS"] = Secrets,
            ["PERSISTENCE_PROVIDER"] = "SQLite.MS",
            ["PERSISTENCE_CONNECTION"] = $"Data Source={Path.Combine(Directory, "runs.db")}",
        });
    }

    public string Directory { get; }

    public string Secrets { get; }

    public int ClusterPort { get; }

    public int PbmPort { get; }

    public ChildProcess Process { get; }

    public string Endpoint => $"127.0.0.1:{PbmPort}";

    public (int Code, string Stdout, string Stderr) Pbm(Dictionary<string, string> env, params string[] args) => ChildProcess.Run("pbm.dll", [Endpoint, .. args], env);

    public void Dispose()
    {
        Process.Dispose();
        System.IO.Directory.Delete(Directory, recursive: true);
    }
}

public sealed class PbmTlsTests(TlsServeNode node) : IClassFixture<TlsServeNode>
{
    [Fact]
    public void PbmWithTheClustersSecretsFolderTalksTls()
    {
        var r = node.Pbm(new() { ["CLUSTER_SECRETS"] = node.Secrets }, "cluster", "show");
        Assert.True(r.Code == 0, r.Stderr);
        Assert.Contains("Count: 1 nodes", r.Stdout);
        Assert.Contains("(TLS)", node.Process.Stdout);
    }

    [Fact]
    public void PbmWithTheCaAndATokenFileTalksTls()
    {
        var r = node.Pbm(new() { ["PBM_CA"] = Path.Combine(node.Secrets, "pbm", "ca.crt"), ["PBM_TOKEN_FILE"] = Path.Combine(node.Secrets, "pbm", "pbm.token") }, "cluster", "status");
        Assert.True(r.Code == 0, r.Stderr);
        Assert.Contains("| Up", r.Stdout);
    }

    [Fact]
    public void PbmWithoutTlsIsToldThatTheNodeRequiresIt()
    {
        string token = File.ReadAllText(Path.Combine(node.Secrets, "pbm", "pbm.token")).Trim();
        var r = node.Pbm(new() { ["PBM_TOKEN"] = token }, "cluster", "show");
        Assert.Equal(3, r.Code);
        string line = Assert.Single(r.Stderr.Trim().Split('\n'));
        Assert.Contains("this node requires TLS: give pbm the cluster's CA (PBM_CA=", line);
    }

    [Fact]
    public void PbmWithTheCaButNoTokenIsRefused()
    {
        var r = node.Pbm(new() { ["PBM_CA"] = Path.Combine(node.Secrets, "pbm", "ca.crt") }, "cluster", "show");
        Assert.Equal(3, r.Code);
        string line = Assert.Single(r.Stderr.Trim().Split('\n'));
        Assert.Contains("requires a token", line);
    }

    [Fact]
    public void ANodeOfAnotherClusterIsRefusedByPbm()
    {
        string other = System.IO.Directory.CreateTempSubdirectory("other-secrets-").FullName;
        try
        {
            ClusterSecrets.Ensure(other);
            var r = node.Pbm(new() { ["PBM_CA"] = Path.Combine(other, "pbm", "ca.crt"), ["PBM_TOKEN_FILE"] = Path.Combine(node.Secrets, "pbm", "pbm.token") }, "cluster", "show");
            Assert.Equal(3, r.Code);
            string line = Assert.Single(r.Stderr.Trim().Split('\n'));
            Assert.StartsWith("error: no TLS with the pbm host", line);
            Assert.Contains("not a node of this cluster", line);
        }
        finally
        {
            System.IO.Directory.Delete(other, recursive: true);
        }
    }

    [Fact]
    public void AnUnreadableCaIsOneLine()
    {
        var r = node.Pbm(new() { ["PBM_CA"] = "/nonexistent/ca.crt" }, "cluster", "show");
        Assert.Equal(3, r.Code);
        string line = Assert.Single(r.Stderr.Trim().Split('\n'));
        Assert.StartsWith("error: cannot read the cluster's CA certificate /nonexistent/ca.crt", line);
    }
}

public sealed class PbmClientFileTests
{
    /// <summary>
    /// A node of nobody's cluster (a TcpListener speaking the framing): welcomes anyone, answers every
    /// command with a file at <paramref name="planted"/> (and one for another command id), then a result.
    /// </summary>
    private static async Task FakeNode(TcpListener listener, string planted, int connections)
    {
        for (int c = 0; c < connections; c++)
        {
            using Socket socket = await listener.AcceptSocketAsync();
            await using var stream = new NetworkStream(socket);
            var buffer = new byte[64 * 1024];
            int length = 0;
            var chunk = new byte[64 * 1024];
            while (true)
            {
                int n = await stream.ReadAsync(chunk);
                if (n == 0)
                {
                    break;
                }

                Framing.Append(ref buffer, ref length, chunk.AsSpan(0, n));
                foreach (IPbmMessage m in Framing.Decode(ref buffer, ref length))
                {
                    IPbmMessage[] answer = m switch
                    {
                        Hello => [new Welcome("fake", [
                            new PaletteInfo("cluster", "", [new CommandInfo("show", "", [])]),
                            new PaletteInfo("train", "", [new CommandInfo("export", "", [new SwitchInfo("run", "r", "", true, false), new SwitchInfo("output", "o", "", true, false)])])])],
                        RunCommand r => [
                            new FileChunk(r.Id, planted, "planted by the node"u8.ToArray(), true),
                            new FileChunk(r.Id + 1, planted + ".other", "another id"u8.ToArray(), true),
                            new CommandResult(r.Id, 0, null)],
                        _ => [],
                    };
                    foreach (IPbmMessage a in answer)
                    {
                        await stream.WriteAsync(Framing.Encode(a));
                    }
                }
            }
        }
    }

    [Fact]
    public async Task AFileANodeSendsIsWrittenOnlyToThePathTheUserGaveForAnExport()
    {
        string dir = Directory.CreateTempSubdirectory("pbm-fake-").FullName;
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        string endpoint = $"127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}";
        string planted = Path.Combine(dir, "planted.txt");
        Task node = FakeNode(listener, planted, connections: 2);
        try
        {
            // a command that writes no file: nothing is written, one warning
            var show = ChildProcess.Run("pbm.dll", [endpoint, "cluster", "show"]);
            Assert.True(show.Code == 0, show.Stderr);
            Assert.False(File.Exists(planted));
            Assert.False(File.Exists(planted + ".other"));
            string warning = Assert.Single(show.Stderr.Trim().Split('\n'));
            Assert.StartsWith("warning: the node sent a file that `cluster show` did not ask for; it was not written", warning);

            // an export: the user's path, never the node's
            string mine = Path.Combine(dir, "mine.cnnm");
            var export = ChildProcess.Run("pbm.dll", [endpoint, "train", "export", "-r", "x", "-o", mine]);
            Assert.True(export.Code == 0, export.Stderr);
            Assert.Equal("planted by the node", File.ReadAllText(mine));
            Assert.False(File.Exists(planted));
            Assert.False(File.Exists(planted + ".other"));
            await node.WaitAsync(TimeSpan.FromSeconds(30));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}

public sealed class ServeRefusalTests
{
    [Theory]
    [InlineData(null, "so the HTTP endpoint (dashboard, /metrics) needs a token: set PBM_TOKEN")]
    [InlineData("t0ken-t0ken-t0ken", "without TLS")]
    public void AnHttpEndpointBeyondLoopbackWithoutATokenOrTlsDoesNotStart(string? token, string expected)
    {
        var env = new Dictionary<string, string>
        {
            ["CLUSTER_PORT"] = TrainProcesses.FreePort().ToString(),
            ["PBM_PORT"] = TrainProcesses.FreePort().ToString(),
            ["HTTP_HOST"] = "0.0.0.0",
            ["HTTP_PORT"] = TrainProcesses.FreePort().ToString(),
        };
        if (token is not null)
        {
            env["PBM_TOKEN"] = token;
        }

        var serve = ChildProcess.Run("CnnCluster.Coordinator.dll", ["serve"], env, TimeSpan.FromMinutes(1));
        Assert.Equal(3, serve.Code);
        string line = Assert.Single(serve.Stderr.Trim().Split('\n'));
        Assert.StartsWith("error: HTTP_HOST=0.0.0.0 is reachable beyond this machine", line);
        Assert.Contains(expected, line);
    }

    [Fact]
    public void ATakenHttpPortIsOneErrorLineAndExitThree()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        int port = ((IPEndPoint)taken.LocalEndpoint).Port;
        var r = ChildProcess.Run("CnnCluster.Coordinator.dll", ["serve"], new Dictionary<string, string>
        {
            ["CLUSTER_PORT"] = TrainProcesses.FreePort().ToString(),
            ["PBM_PORT"] = TrainProcesses.FreePort().ToString(),
            ["HTTP_PORT"] = port.ToString(),
        }, TimeSpan.FromMinutes(1));
        Assert.Equal(3, r.Code);
        Assert.StartsWith($"error: the HTTP endpoint cannot listen on 127.0.0.1:{port}: ", Assert.Single(r.Stderr.Trim().Split('\n')));
    }

    [Fact]
    public void ATakenPbmPortIsOneErrorLineAndExitThree()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        int port = ((IPEndPoint)taken.LocalEndpoint).Port;
        var r = ChildProcess.Run("CnnCluster.Coordinator.dll", ["serve"], new Dictionary<string, string>
        {
            ["CLUSTER_PORT"] = TrainProcesses.FreePort().ToString(),
            ["PBM_PORT"] = port.ToString(),
        }, TimeSpan.FromMinutes(1));
        Assert.Equal(3, r.Code);
        string line = Assert.Single(r.Stderr.Trim().Split('\n'));
        Assert.StartsWith($"error: pbm cannot listen on 127.0.0.1:{port}: ", line);
    }

    [Theory]
    [InlineData(null, "pbm needs a token: set PBM_TOKEN or PBM_TOKEN_FILE")]
    [InlineData("t0ken-t0ken-t0ken", "without TLS")]
    public void APbmHostBeyondLoopbackWithoutATokenOrTlsDoesNotStart(string? token, string expected)
    {
        var env = new Dictionary<string, string>
        {
            ["CLUSTER_PORT"] = TrainProcesses.FreePort().ToString(),
            ["PBM_HOST"] = "0.0.0.0",
            ["PBM_PORT"] = TrainProcesses.FreePort().ToString(),
        };
        if (token is not null)
        {
            env["PBM_TOKEN"] = token;
        }

        var serve = ChildProcess.Run("CnnCluster.Coordinator.dll", ["serve"], env, TimeSpan.FromMinutes(1));
        Assert.Equal(3, serve.Code);
        string line = Assert.Single(serve.Stderr.Trim().Split('\n'));
        Assert.StartsWith("error: PBM_HOST=0.0.0.0 is reachable beyond this machine", line);
        Assert.Contains(expected, line);

        env["WORKER_THREADS"] = "1";
        env["CLUSTER_SEEDS"] = "127.0.0.1:1";
        var worker = ChildProcess.Run("CnnCluster.Worker.dll", [], env, TimeSpan.FromMinutes(1));
        Assert.Equal(2, worker.Code);
        Assert.Contains(expected, Assert.Single(worker.Stderr.Trim().Split('\n')));
    }
}

/// <summary>Two coordinator nodes: the second, downed from the first's pbm, exits non-zero so that its restart policy brings it back.</summary>
public sealed class DownedCoordinatorTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("downed-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private ChildProcess Serve(int clusterPort, int pbmPort, string? seed) => ChildProcess.Serve(0, pbmPort, new Dictionary<string, string>
    {
        ["CLUSTER_PORT"] = clusterPort.ToString(),
        ["PBM_TOKEN"] = ServeNode.Token,
        ["PERSISTENCE_PROVIDER"] = "SQLite.MS",
        ["PERSISTENCE_CONNECTION"] = $"Data Source={Path.Combine(_dir, $"runs-{clusterPort}.db")}",
        ["CLUSTER_SEEDS"] = seed ?? $"127.0.0.1:{clusterPort}",
    });

    [Fact]
    public void AReachableMemberIsDownedOnlyWithForceAndADownedCoordinatorExitsThree()
    {
        int firstPort = TrainProcesses.FreePort(), firstPbm = TrainProcesses.FreePort(), secondPort = TrainProcesses.FreePort(), secondPbm = TrainProcesses.FreePort();
        using ChildProcess first = Serve(firstPort, firstPbm, null);
        using ChildProcess second = Serve(secondPort, secondPbm, $"127.0.0.1:{firstPort}");
        var env = new Dictionary<string, string> { ["PBM_TOKEN"] = ServeNode.Token };
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!ChildProcess.Run("pbm.dll", [$"127.0.0.1:{firstPbm}", "cluster", "show"], env).Stdout.Contains("Count: 2 nodes"))
        {
            Assert.True(clock.Elapsed < TimeSpan.FromMinutes(1), "the second coordinator did not join");
            Thread.Sleep(500);
        }

        string target = $"akka.tcp://cnncluster@127.0.0.1:{secondPort}";
        var refused = ChildProcess.Run("pbm.dll", [$"127.0.0.1:{firstPbm}", "cluster", "down", "-a", target], env);
        Assert.NotEqual(0, refused.Code);
        Assert.Contains($"{target} is reachable: down only unreachable members, or add --force", Assert.Single(refused.Stderr.Trim().Split('\n')));
        Assert.False(second.HasExited);

        var forced = ChildProcess.Run("pbm.dll", [$"127.0.0.1:{firstPbm}", "cluster", "down", "-a", target, "--force"], env);
        Assert.True(forced.Code == 0, forced.Stderr);
        Assert.Equal(3, second.WaitForExit(TimeSpan.FromMinutes(1)));
        Assert.Contains("error: this coordinator was downed", second.Stderr);
        Assert.False(first.HasExited);
    }
}

using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net.Sockets;
using CnnCluster.Shared.DataPlane;
using CnnCluster.Shared.Protocol;
using Xunit;

namespace CnnCluster.Shared.Tests;

/// <summary>The data plane over real sockets on 127.0.0.1: a coordinator's link and a worker's server.</summary>
public sealed class DataPlaneSpecs : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private readonly BlockingCollection<string> _serverLog = new();
    private readonly DataPlaneServer _server;

    public DataPlaneSpecs()
    {
        // the "worker": answers every node of an assignment with gradient = parameters × (node start + 1)
        _server = new DataPlaneServer("127.0.0.1", 0, "127.0.0.1", (message, replies) =>
        {
            var work = (WorkAssignment)message;
            foreach (TreeNode node in work.Nodes)
            {
                float[] g = work.Parameters.Select(p => p * (node.Start + 1)).ToArray();
                replies.Send(new NodeResult(work.RunId, work.Incarnation, work.Step, node, node.Start + 0.5, g, 1.0));
            }

            if (work.Nodes.Length == 0)
            {
                replies.Send(new WorkFailed(work.RunId, work.Incarnation, work.Step, "no nodes"));
            }
        }, _serverLog.Add);
        _server.Start();
    }

    public void Dispose() => _server.Dispose();

    private static WorkAssignment Work(long step, float[] parameters, params TreeNode[] nodes) =>
        new("run", 42, step, "{}", null, 8, [1, 2, 3], nodes, parameters, "fp");

    [Fact]
    public void AssignmentsGoOutAndEveryNodesResultComesBackBitForBit()
    {
        var received = new BlockingCollection<IProtocolMessage>();
        string? closed = null;
        using var link = new DataLink(_server.Endpoint, received.Add, r => closed = r);
        float[] parameters = Enumerable.Range(0, 100_000).Select(i => MathF.Sin(i) * 1e-3f).ToArray();

        link.Send(Work(7, parameters, new TreeNode(0, 2), new TreeNode(4, 1)));
        link.Send(Work(8, parameters));

        var first = Assert.IsType<NodeResult>(received.Take(new CancellationTokenSource(Wait).Token));
        var second = Assert.IsType<NodeResult>(received.Take(new CancellationTokenSource(Wait).Token));
        var failed = Assert.IsType<WorkFailed>(received.Take(new CancellationTokenSource(Wait).Token));
        Assert.Equal((7L, new TreeNode(0, 2), 0.5), (first.Step, first.Node, first.LossSum));
        Assert.Equal(new TreeNode(4, 1), second.Node);
        Assert.Equal(parameters, first.Gradient);
        Assert.Equal(parameters.Select(p => p * 5), second.Gradient);
        Assert.Equal((8L, "no nodes"), (failed.Step, failed.Reason));
        Assert.Null(closed);
        Assert.True(link.BytesSent > 2 * 400_000 && link.BytesSent < 2 * 400_000 + 1000, $"{link.BytesSent} bytes sent");
        Assert.True(link.BytesReceived > 2 * 400_000, $"{link.BytesReceived} bytes received");
    }

    [Fact]
    public void ALinkToNothingSaysSoOnce()
    {
        int port;
        using (var probe = new TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        }

        var reasons = new BlockingCollection<string>();
        using var link = new DataLink($"127.0.0.1:{port}", _ => { }, reasons.Add);
        link.Send(Work(1, [1f], new TreeNode(0, 0)));
        Assert.Contains($"127.0.0.1:{port}", reasons.Take(new CancellationTokenSource(Wait).Token));
        Assert.False(reasons.TryTake(out _, 300));
    }

    [Theory]
    [InlineData("wrong preamble")]
    [InlineData("oversized frame")]
    [InlineData("oversized plan")]
    [InlineData("unknown kind")]
    [InlineData("garbage body")]
    public void AMalformedPeerLosesItsConnectionAndTheServerGoesOn(string attack)
    {
        using (var client = new TcpClient())
        {
            string[] parts = _server.Endpoint.Split(':');
            client.Connect(parts[0], int.Parse(parts[1]));
            NetworkStream s = client.GetStream();
            byte[] frame = attack switch
            {
                "wrong preamble" => "HTTP/1.1"u8.ToArray(),
                "oversized frame" => [.. DataFrames.Preamble, .. Header(int.MaxValue, 1)],
                // a plan (no tensor) that would buffer 200 MiB: refused on its header, before a byte of it is read
                "oversized plan" => [.. DataFrames.Preamble, .. Header(200 << 20, (byte)FrameKind.StepPlan)],
                "unknown kind" => [.. DataFrames.Preamble, .. Header(2, 99), 0],
                _ => [.. DataFrames.Preamble, .. Header(4, 1), 0xc1, 0xc1, 0xc1],
            };
            s.Write(frame);
            s.ReadTimeout = (int)Wait.TotalMilliseconds;
            Assert.Equal(0, s.Read(new byte[16])); // the server closes the connection
        }

        Assert.True(_serverLog.TryTake(out string? line, Wait));
        Assert.Contains("closed", line);
        if (attack == "oversized plan")
        {
            Assert.Contains($"a StepPlan frame announces {200 << 20} bytes (limit {DataFrames.MaxControlFrameBytes})", line);
        }

        // and still serves well-behaved links
        var received = new BlockingCollection<IProtocolMessage>();
        using var link = new DataLink(_server.Endpoint, received.Add, _ => { });
        link.Send(Work(1, [2f], new TreeNode(0, 0)));
        Assert.Equal([2f], Assert.IsType<NodeResult>(received.Take(new CancellationTokenSource(Wait).Token)).Gradient);
    }

    [Fact]
    public void AConnectionFloodIsRefusedPastTheLimitInOneLineAndTheServerServesAgainWhenItEnds()
    {
        string[] parts = _server.Endpoint.Split(':');
        var flood = new List<TcpClient>();
        try
        {
            for (int i = 0; i < DataPlaneServer.MaxConnections + 20; i++)
            {
                var c = new TcpClient();
                c.Connect(parts[0], int.Parse(parts[1]));
                flood.Add(c);
            }

            // those past the limit are closed at once; the log says so once, not once a connection
            NetworkStream last = flood[^1].GetStream();
            last.ReadTimeout = (int)Wait.TotalMilliseconds;
            Assert.Equal(0, last.Read(new byte[1]));
            Assert.True(_serverLog.TryTake(out string? line, Wait));
            Assert.Matches(@"^data plane: refused a connection from 127\.0\.0\.1:\d+: 512 are open, the limit \(\d+ refused so far\)$", line);
            Assert.False(_serverLog.TryTake(out _, 200));
        }
        finally
        {
            flood.ForEach(c => c.Dispose());
        }

        // the flood gone (once the server has seen each of its 512 connections end), a well-behaved link is served again
        Assert.True(SpinWait.SpinUntil(() => _server.OpenConnections == 0, Wait), $"{_server.OpenConnections} connections still open");
        var received = new BlockingCollection<IProtocolMessage>();
        using var link = new DataLink(_server.Endpoint, received.Add, _ => { });
        link.Send(Work(1, [3f], new TreeNode(0, 0)));
        Assert.Equal([3f], Assert.IsType<NodeResult>(received.Take(new CancellationTokenSource(Wait).Token)).Gradient);
    }

    [Fact]
    public void AFrameAWorkerDoesNotTakeClosesThatConnectionOnly()
    {
        var reasons = new BlockingCollection<string>();
        using var link = new DataLink(_server.Endpoint, _ => { }, reasons.Add);
        link.Send(new StepDone(new StepRef("run", 42, 1, 1), "ab", 1.0, 0, 0));
        Assert.Contains("closed", reasons.Take(new CancellationTokenSource(Wait).Token));
        Assert.True(_serverLog.TryTake(out string? line, Wait));
        Assert.Contains("does not take a StepDone", line);
    }

    [Fact]
    public void WholeStatesAreCountedApartFromStepsOnBothEnds()
    {
        var serverTraffic = new DataTraffic();
        var got = new BlockingCollection<IProtocolMessage>();
        var dialer = new RecordingDialer();
        using var server = new DataPlaneServer("127.0.0.1", 0, "127.0.0.1", (m, _) => got.Add(m), _ => { }, serverTraffic) { Peers = dialer };
        server.Start();
        var linkTraffic = new DataTraffic();
        using var link = new DataLink(server.Endpoint, _ => { }, _ => { }, linkTraffic);
        float[] state = new float[50_000];
        link.Send(new ReplicaInit("run", 42, new RunConfig("m", "{}", 1, null, 8, 0.1, 0.9, false, 0, "constant", 0, 1, 8, null), "fp", 0, state, state));
        link.Send(new StepPlan(new StepRef("run", 42, 1, 1), ["a:1", "b:2"], 0, [new TreeNode(0, 0)], [new TreeNode(0, 0)], false, Computers: [[0]]));
        dialer.Prove(link, "b:2"); // a slice comes only from a peer that proved which member it is
        link.Send(new SlicePart(new StepRef("run", 42, 1, 1), new TreeNode(0, 0), 0, 1.0, new float[1000]));
        Assert.IsType<ReplicaInit>(got.Take(new CancellationTokenSource(Wait).Token));
        Assert.IsType<StepPlan>(got.Take(new CancellationTokenSource(Wait).Token));
        Assert.IsType<SlicePart>(got.Take(new CancellationTokenSource(Wait).Token));

        Assert.InRange(linkTraffic.StateSent, 400_000, 401_000);
        Assert.InRange(linkTraffic.StepSent, 4_000, 4_400);
        Assert.Equal((linkTraffic.StateSent, linkTraffic.StepSent), (serverTraffic.StateReceived, serverTraffic.StepReceived));
    }

    private static byte[] Header(int length, byte kind)
    {
        var header = new byte[5];
        BinaryPrimitives.WriteInt32LittleEndian(header, length);
        header[4] = kind;
        return header;
    }
}

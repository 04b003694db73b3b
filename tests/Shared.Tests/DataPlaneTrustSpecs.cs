using System.Collections.Concurrent;
using CnnCluster.Shared.DataPlane;
using CnnCluster.Shared.Protocol;
using CnnCluster.Security;
using Xunit;

namespace CnnCluster.Shared.Tests;

/// <summary>
/// The data plane with the cluster's trust, over real sockets on 127.0.0.1: the coordinator's link is served
/// bit for bit over TLS; a plain link, or one whose certificate comes from another authority, is refused in
/// the handshake; a worker's certificate may send slices but not what only the coordinator sends; and nothing
/// refused reaches the worker.
/// </summary>
public sealed class DataPlaneTrustSpecs : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
    private readonly string _folder = Directory.CreateTempSubdirectory("trust-").FullName;
    private readonly BlockingCollection<string> _serverLog = new();
    private readonly BlockingCollection<IProtocolMessage> _delivered = new();
    private readonly DataPlaneServer _server;
    private readonly RecordingDialer _dialer = new();

    public DataPlaneTrustSpecs()
    {
        ClusterSecrets.Ensure(Path.Combine(_folder, "ours"));
        ClusterSecrets.Ensure(Path.Combine(_folder, "theirs"));
        _server = new DataPlaneServer("127.0.0.1", 0, "127.0.0.1", (message, replies) =>
        {
            _delivered.Add(message);
            if (message is WorkAssignment work)
            {
                replies.Send(new NodeResult(work.RunId, work.Incarnation, work.Step, work.Nodes[0], 0.25, work.Parameters, 1.0));
            }
        }, _serverLog.Add, trust: Trust("ours", NodeRole.Worker)) { Peers = _dialer };
        _server.Start();
    }

    public void Dispose()
    {
        _server.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    private ClusterTrust Trust(string name, NodeRole role = NodeRole.Coordinator) => ClusterTrust.Load(Path.Combine(_folder, name), role);

    private static WorkAssignment Work(float[] parameters) => new("run", 1, 3, "{}", null, 8, [1, 2, 3], [new TreeNode(0, 1)], parameters, "fp");

    [Fact]
    public void AMemberOfTheClusterIsServedOverTlsBitForBit()
    {
        var received = new BlockingCollection<IProtocolMessage>();
        using var link = new DataLink(_server.Endpoint, received.Add, _ => { }, trust: Trust("ours"));
        float[] parameters = Enumerable.Range(0, 300_000).Select(i => MathF.Cos(i) * 1e-2f).ToArray();
        link.Send(Work(parameters));
        var result = Assert.IsType<NodeResult>(received.Take(new CancellationTokenSource(Wait).Token));
        Assert.Equal(parameters, result.Gradient);
        Assert.Empty(_serverLog);
    }

    [Theory]
    [InlineData("plain")]
    [InlineData("theirs")]
    public void ALinkWithoutTheClustersCertificateIsRefusedAndDeliversNothing(string who)
    {
        var closed = new BlockingCollection<string>();
        using var link = new DataLink(_server.Endpoint, _ => { }, closed.Add, trust: who == "plain" ? null : Trust(who));
        link.Send(Work([1, 2, 3]));
        string reason = closed.Take(new CancellationTokenSource(Wait).Token);
        string refused = _serverLog.Take(new CancellationTokenSource(Wait).Token);
        Assert.Contains("refused", refused);
        if (who == "theirs")
        {
            // each side refuses the other: the link sees a server that is not of its cluster
            Assert.Contains("not a node of this cluster", reason);
        }

        Assert.Empty(_delivered);
    }

    [Fact]
    public void ACertificateFolderFromAnotherAuthorityIsRefusedAtLoad()
    {
        string mixed = Path.Combine(_folder, "mixed");
        Directory.CreateDirectory(mixed);
        File.Copy(Path.Combine(_folder, "ours", ClusterSecrets.AuthorityFile), Path.Combine(mixed, ClusterSecrets.AuthorityFile));
        File.Copy(Path.Combine(_folder, "theirs", "worker", ClusterSecrets.NodeFile), Path.Combine(mixed, ClusterSecrets.NodeFile));
        var e = Assert.Throws<ArgumentException>(() => ClusterTrust.Load(mixed, NodeRole.Worker));
        Assert.Contains("is not signed by", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void AWorkersCertificateMaySendSlicesButNotWhatOnlyTheCoordinatorSends()
    {
        var closed = new BlockingCollection<string>();
        using (var peer = new DataLink(_server.Endpoint, _ => { }, closed.Add, trust: Trust("ours", NodeRole.Worker)))
        {
            _dialer.Prove(peer, "127.0.0.1:1");
            peer.Send(new SliceSum(new StepRef("run", 1, 3, 13), 0, 1.5, [1f, 2f]));
            Assert.IsType<SliceSum>(_delivered.Take(new CancellationTokenSource(Wait).Token));

            // the same connection now poses as the coordinator: refused in one line, counted, closed
            peer.Send(new ReplicaInit("run", 1, ProtocolSamples.Config, "fp", 0, [1f], [0f]));
            string refused = _serverLog.Take(new CancellationTokenSource(Wait).Token);
            Assert.Contains("refused: a ReplicaInit comes only from the coordinator, and this connection holds the worker's certificate (1 refused so far)", refused);
            Assert.DoesNotContain('\n', refused);
            closed.Take(new CancellationTokenSource(Wait).Token);
        }

        using (var another = new DataLink(_server.Endpoint, _ => { }, closed.Add, trust: Trust("ours", NodeRole.Worker)))
        {
            another.Send(Work([1, 2, 3]));
            Assert.Contains("a WorkAssignment comes only from the coordinator", _serverLog.Take(new CancellationTokenSource(Wait).Token));
        }

        Assert.Equal(2, _server.Refused);
        Assert.Empty(_delivered); // only the slice, taken above
    }
}

using System.Collections.Concurrent;
using CnnCluster.Security;
using CnnCluster.Shared.DataPlane;
using CnnCluster.Shared.Protocol;
using CnnCluster.Worker.Sharded;

namespace CnnCluster.Coordinator.Tests;

/// <summary>
/// A worker's data plane without its actor, over real sockets on 127.0.0.1: the product's server (where peers
/// challenge it) and its peer links (which say hello and prove it), wired as a worker wires them. What it
/// receives is recorded with the member its connection proved to be (null for the coordinator's).
/// </summary>
internal sealed class TestPeer : IDisposable
{
    public TestPeer(ClusterTrust? trust = null, TimeSpan? proofTimeout = null)
    {
        Server = new DataPlaneServer("127.0.0.1", 0, "127.0.0.1", (m, replies) => Received.Add((m, replies.Peer)), Log.Add, trust: trust)
        {
            ProofTimeout = proofTimeout ?? DataPlaneServer.DefaultProofTimeout,
        };
        Links = new PeerLinks(() => Server.Endpoint, new DataTraffic(), Log.Add, trust);
        Server.Peers = Links;
        Server.Start();
    }

    public DataPlaneServer Server { get; }

    public PeerLinks Links { get; }

    public string Endpoint => Server.Endpoint;

    public BlockingCollection<(IProtocolMessage Message, string? From)> Received { get; } = new();

    public BlockingCollection<string> Log { get; } = new();

    /// <summary>Sends <paramref name="message"/> to the data plane at <paramref name="endpoint"/> over this peer's own link.</summary>
    public void Send(string endpoint, ISliceMessage message) => Links.Send([endpoint], message, message.Values ?? new float[1]);

    public void Dispose()
    {
        Server.Dispose();
        Links.Dispose();
    }
}

using CnnCluster.Shared.DataPlane;
using CnnCluster.Shared.Protocol;
using Xunit;

namespace CnnCluster.Coordinator.Tests;

/// <summary>
/// Which member sent a slice, over real sockets on 127.0.0.1 with the product's data planes and peer links: every
/// worker shows the same certificate, so a peer's connection proves the endpoint it names by echoing the nonce
/// sent there. A peer is taken as the member it proves to be; one that names another member's endpoint is never
/// taken as it (its slices are held, never delivered, and its connection closed); one that names none is refused.
/// </summary>
public sealed class PeerProofSpecs
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
    private static readonly StepRef Key = new("run", 1, 1, 1);

    [Fact]
    public void APeersSlicesAreDeliveredAsTheMemberItProvedToBe()
    {
        using var a = new TestPeer();
        using var b = new TestPeer();
        a.Send(b.Endpoint, new SliceSum(Key, 0, 1.5, [1f, 2f]));
        a.Send(b.Endpoint, new SliceSum(Key with { Step = 2 }, 0, 2.5, [3f]));
        b.Send(a.Endpoint, new SliceSum(Key, 1, 0.5, [4f]));

        Assert.Equal((1.5, a.Endpoint), Taken(b));
        Assert.Equal((2.5, a.Endpoint), Taken(b));
        Assert.Equal((0.5, b.Endpoint), Taken(a));
    }

    [Fact]
    public void APeerNamingAnotherMembersEndpointIsNeverTakenAsItAndIsClosed()
    {
        using var honest = new TestPeer();
        using var target = new TestPeer(proofTimeout: TimeSpan.FromSeconds(2));
        honest.Send(target.Endpoint, new SliceSum(Key, 0, 1.0, [1f])); // the honest member's link to the target exists, and answers challenges
        Assert.Equal((1.0, honest.Endpoint), Taken(target));

        // an impostor (a worker's certificate would let it in as well) says it is the honest member and sends a finite, well-formed sum
        var closed = new System.Collections.Concurrent.BlockingCollection<string>();
        using var impostor = new DataLink(target.Endpoint, _ => { }, closed.Add);
        impostor.Send(new PeerHello(honest.Endpoint));
        impostor.Send(new SliceSum(Key, 0, 99.0, [0.01f]));
        closed.Take(new CancellationTokenSource(Wait).Token);
        Assert.Contains(target.Log, l => l.Contains($"it said it is {honest.Endpoint} and did not prove it within 2 s"));

        // the honest member answered the challenge on its own connection, where the nonce is not that connection's: nothing changed
        honest.Send(target.Endpoint, new SliceSum(Key, 0, 2.0, [2f]));
        Assert.Equal((2.0, honest.Endpoint), Taken(target));
        Assert.Empty(target.Received);
    }

    [Fact]
    public void ASliceFromAPeerThatDidNotSayWhichMemberItIsIsRefusedAndItsConnectionClosed()
    {
        using var target = new TestPeer();
        var closed = new System.Collections.Concurrent.BlockingCollection<string>();
        using var stranger = new DataLink(target.Endpoint, _ => { }, closed.Add);
        stranger.Send(new SlicePart(Key, new TreeNode(0, 0), 0, 1.0, [1f]));
        closed.Take(new CancellationTokenSource(Wait).Token);
        string line = target.Log.Take(new CancellationTokenSource(Wait).Token);
        Assert.Contains("refused: a SlicePart from a peer that did not say which member it is (1 refused so far)", line);
        Assert.Empty(target.Received);
        Assert.Equal(1, target.Server.Refused);
    }

    [Fact]
    public void AChallengeForALinkThisWorkerDidNotOpenIsNotAnswered()
    {
        using var target = new TestPeer();
        var closed = new System.Collections.Concurrent.BlockingCollection<string>();
        using var stranger = new DataLink(target.Endpoint, _ => { }, closed.Add);
        stranger.Send(new PeerChallenge("127.0.0.1:9", [1, 2, 3]));
        string line = target.Log.Take(new CancellationTokenSource(Wait).Token);
        Assert.Contains("a challenge from 127.0.0.1:9 for a link this worker did not open; not answered", line);
        Assert.Empty(closed);
    }

    private static (double Loss, string? From) Taken(TestPeer peer)
    {
        (IProtocolMessage message, string? from) = peer.Received.Take(new CancellationTokenSource(Wait).Token);
        return (Assert.IsType<SliceSum>(message).LossSum, from);
    }
}

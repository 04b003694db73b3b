using System.Security.Cryptography;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Shared.DataPlane;

/// <summary>
/// Who dialed one connection to a worker's data plane, as far as it is proven (the handshake of
/// <see cref="PeerHello"/>, <see cref="PeerChallenge"/>, <see cref="PeerProof"/>): a hello claims an endpoint;
/// the nonce of the challenge sent there comes back on this connection only if the worker listening at that
/// endpoint dialed it. Until then the slices it carries are held, in order, and delivered once it is proven.
/// Used by the connection's read loop only.
/// </summary>
public sealed class InboundPeer
{
    private byte[]? _nonce;
    private readonly Queue<(IProtocolMessage Message, long Bytes)> _held = new();

    /// <summary>The endpoint the dialer claimed (null before its hello).</summary>
    public string? Claimed { get; private set; }

    /// <summary>The endpoint the dialer proved to hold (null until proven).</summary>
    public string? Proven { get; private set; }

    /// <summary>Bytes of the slices held until the proof.</summary>
    public long HeldBytes { get; private set; }

    /// <summary>A hello: the challenge to send to the endpoint it claims. A second hello on one connection is not one of ours.</summary>
    public PeerChallenge Hello(PeerHello hello, string myEndpoint)
    {
        if (Claimed is not null)
        {
            throw new InvalidDataException($"a second hello on one connection (it said {Claimed}, now {hello.Endpoint})");
        }

        if (string.IsNullOrEmpty(hello.Endpoint) || hello.Endpoint.Length > 300)
        {
            throw new InvalidDataException("a hello without an endpoint");
        }

        Claimed = hello.Endpoint;
        _nonce = RandomNumberGenerator.GetBytes(32);
        return new PeerChallenge(myEndpoint, _nonce);
    }

    /// <summary>
    /// A proof: true when it carries this connection's nonce (the connection is then the claimed endpoint's,
    /// and <see cref="TakeHeld"/> gives what waited for it). Any other nonce is a proof of another connection of the
    /// same dialer (an older one, closed since) or a guess, and changes nothing.
    /// </summary>
    public bool Prove(PeerProof proof)
    {
        if (Proven is not null || _nonce is null || proof.Nonce is null || !CryptographicOperations.FixedTimeEquals(proof.Nonce, _nonce))
        {
            return false;
        }

        Proven = Claimed;
        return true;
    }

    /// <summary>Holds a slice that came before the proof.</summary>
    public void Hold(IProtocolMessage message, long bytes)
    {
        _held.Enqueue((message, bytes));
        HeldBytes += bytes;
    }

    /// <summary>The held slices, in arrival order (and none held any more).</summary>
    public IReadOnlyList<(IProtocolMessage Message, long Bytes)> TakeHeld()
    {
        var taken = _held.ToList();
        _held.Clear();
        HeldBytes = 0;
        return taken;
    }
}

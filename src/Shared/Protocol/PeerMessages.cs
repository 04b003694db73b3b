using MessagePack;

namespace CnnCluster.Shared.Protocol;

// Who is at the other end of a connection between two workers' data planes (DESIGN §5). Every worker holds
// the same worker certificate, so TLS says "a worker" and not which one; a member's endpoint is what the
// coordinator names in its plans, and only the worker listening there receives what is sent to it. A
// connection's dialer says which endpoint it is (PeerHello); the receiver sends a random nonce to that
// endpoint over its own link (PeerChallenge); the worker there sends the nonce back on the connection it
// dialed (PeerProof). Only then are the slices that connection carries taken as that member's.

/// <summary>Worker → worker, the first frame of a peer link: the data-plane endpoint of the worker that dialed.</summary>
[MessagePackObject]
public sealed record PeerHello([property: Key(0)] string Endpoint) : IProtocolMessage;

/// <summary>
/// Worker → worker, over the receiver's own link to the endpoint a hello named: prove it by sending
/// <see cref="Nonce"/> back on the connection you dialed to <see cref="Endpoint"/> (the challenger's).
/// </summary>
[MessagePackObject]
public sealed record PeerChallenge([property: Key(0)] string Endpoint, [property: Key(1)] byte[] Nonce) : IProtocolMessage;

/// <summary>Worker → worker, on the connection its hello came by: the nonce the challenge carried.</summary>
[MessagePackObject]
public sealed record PeerProof([property: Key(0)] byte[] Nonce) : IProtocolMessage;

using CnnCluster.Shared.Protocol;

namespace CnnCluster.Shared.DataPlane;

/// <summary>A worker's own links to its peers, as its data plane's server needs them for the peer handshake (<see cref="InboundPeer"/>).</summary>
public interface IPeerDialer
{
    /// <summary>Sends <paramref name="challenge"/> over this worker's link to <paramref name="endpoint"/> (opened if it is not yet).</summary>
    void Challenge(string endpoint, PeerChallenge challenge);

    /// <summary>
    /// Answers <paramref name="challenge"/> with its nonce on the link this worker dialed to the challenger's endpoint,
    /// if it has one (a worker proves only connections it opened); false when it has none.
    /// </summary>
    bool Answer(PeerChallenge challenge);
}

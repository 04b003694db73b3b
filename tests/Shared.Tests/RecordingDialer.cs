using System.Collections.Concurrent;
using CnnCluster.Shared.DataPlane;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Shared.Tests;

/// <summary>
/// A data plane's way to its peers, as a test plays them: the challenges the server sends are recorded (the test
/// answers one by sending its nonce back, as the worker at the endpoint would); challenges to answer, none.
/// </summary>
internal sealed class RecordingDialer : IPeerDialer
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    public BlockingCollection<(string Endpoint, PeerChallenge Challenge)> Challenges { get; } = new();

    public void Challenge(string endpoint, PeerChallenge challenge) => Challenges.Add((endpoint, challenge));

    public bool Answer(PeerChallenge challenge) => false;

    /// <summary>Says <paramref name="link"/> is <paramref name="endpoint"/>'s and proves it with the challenge that went there.</summary>
    public void Prove(DataLink link, string endpoint)
    {
        link.Send(new PeerHello(endpoint));
        (string to, PeerChallenge challenge) = Challenges.Take(new CancellationTokenSource(Wait).Token);
        if (to != endpoint)
        {
            throw new InvalidOperationException($"the challenge went to {to}, not {endpoint}");
        }

        link.Send(new PeerProof(challenge.Nonce));
    }
}

using System.Runtime.CompilerServices;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.DataPlane;
using CnnCluster.Shared.Protocol;
using CnnCluster.Security;

namespace CnnCluster.Worker.Sharded;

/// <summary>
/// This worker's connections to its peers' data planes, one per endpoint, opened on first use and kept
/// across steps and runs. A link that fails is dropped (logged) and opened again by the next message; what
/// it lost shows as a step that does not complete, which the coordinator runs again with a new generation.
/// The slices it sends are pooled arrays, given back once encoded, so a step allocates no tensor. Each link
/// begins with a <see cref="PeerHello"/> naming this worker's endpoint (<paramref name="me"/>), and this worker
/// answers a peer's challenge only on a link it opened (<see cref="IPeerDialer"/>): so a peer takes the slices
/// that come on a connection as the member's whose endpoint it names.
/// </summary>
public sealed class PeerLinks(Func<string> me, DataTraffic traffic, Action<string> log, ClusterTrust? trust = null) : IDisposable, IPeerDialer
{
    /// <summary>Links open at once, as many as a data plane takes connections; a challenge that would open one more is refused.</summary>
    public const int MaxLinks = DataPlaneServer.MaxConnections;

    private readonly Dictionary<string, DataLink> _links = new();

    // copies of a message still to encode, by its pooled array (weak: a link that dies with them lets them go)
    private readonly ConditionalWeakTable<float[], StrongBox<int>> _unencoded = new();

    /// <summary>Sends <paramref name="message"/> to each endpoint; <paramref name="pooled"/> goes back to its pool once every copy is encoded.</summary>
    public void Send(IReadOnlyList<string> endpoints, IProtocolMessage message, float[] pooled)
    {
        _unencoded.AddOrUpdate(pooled, new StrongBox<int>(endpoints.Count));
        foreach (string endpoint in endpoints)
        {
            Link(endpoint).Send(message);
        }
    }

    public void Challenge(string endpoint, PeerChallenge challenge)
    {
        lock (_links)
        {
            if (!_links.ContainsKey(endpoint) && _links.Count >= MaxLinks)
            {
                throw new InvalidDataException($"a hello from {TerminalText.Safe(endpoint)} would open link {MaxLinks + 1} to peers");
            }

            Link(endpoint).Send(challenge);
        }
    }

    public bool Answer(PeerChallenge challenge)
    {
        lock (_links)
        {
            if (challenge.Endpoint is null || !_links.TryGetValue(challenge.Endpoint, out DataLink? link))
            {
                return false;
            }

            link.Send(new PeerProof(challenge.Nonce));
            return true;
        }
    }

    private DataLink Link(string endpoint)
    {
        lock (_links)
        {
            if (!_links.TryGetValue(endpoint, out DataLink? link))
            {
                DataLink? created = null;
                created = new DataLink(endpoint, _ => { }, reason => Drop(endpoint, created!, reason), traffic, Encoded, trust);
                created.Send(new PeerHello(me())); // the link's first frame: who dialed
                link = _links[endpoint] = created;
            }

            return link;
        }
    }

    private void Encoded(IProtocolMessage message)
    {
        float[]? values = message switch
        {
            SlicePart p => p.Values,
            SliceSum s => s.Values,
            _ => null,
        };
        if (values is not null && _unencoded.TryGetValue(values, out StrongBox<int>? left) && Interlocked.Decrement(ref left.Value) == 0)
        {
            _unencoded.Remove(values);
            GradientBuffers.Shared(values.Length).Return(values);
        }
    }

    private void Drop(string endpoint, DataLink link, string reason)
    {
        lock (_links)
        {
            if (_links.TryGetValue(endpoint, out DataLink? current) && current == link)
            {
                _links.Remove(endpoint);
            }
        }

        link.Dispose();
        log($"peer link to {endpoint} closed: {reason}");
    }

    public void Dispose()
    {
        lock (_links)
        {
            foreach (DataLink link in _links.Values)
            {
                link.Dispose();
            }

            _links.Clear();
        }
    }
}

using CnnCluster.Shared.DataPlane;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Worker.Sharded;

/// <summary>
/// This worker's connections to its peers' data planes, one per endpoint, opened on first use and kept
/// across steps and runs. A link that fails is dropped (logged) and opened again by the next message; what
/// it lost shows as a step that does not complete, which the coordinator runs again with a new generation.
/// </summary>
public sealed class PeerLinks(DataTraffic traffic, Action<string> log) : IDisposable
{
    private readonly Dictionary<string, DataLink> _links = new();

    public void Send(string endpoint, IProtocolMessage message)
    {
        DataLink link;
        lock (_links)
        {
            if (!_links.TryGetValue(endpoint, out link!))
            {
                DataLink? created = null;
                created = new DataLink(endpoint, _ => { }, reason => Drop(endpoint, created!, reason), traffic);
                link = _links[endpoint] = created;
            }
        }

        link.Send(message);
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

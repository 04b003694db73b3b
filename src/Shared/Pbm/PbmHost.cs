using System.Net;
using Akka.Actor;
using Akka.Event;
using Akka.IO;

namespace CnnCluster.Shared.Pbm;

/// <summary>
/// The pbm command host of a node (DESIGN §6): listens on PBM_HOST:PBM_PORT with Akka.IO TCP and gives
/// every connection its own <see cref="PbmConnectionHandler"/>, which serves this node's palettes.
/// A connection that breaks the protocol is closed; the host keeps serving the others.
/// Connections are bounded: at most <see cref="MaxConnections"/> in all and <see cref="MaxWaitingPerAddress"/>
/// per address that have not said hello yet. Past either limit the oldest connection still waiting for
/// its hello is closed to make room (a flood of silent or half-sent connections cannot keep a real
/// client out); with every connection greeted, a new one is refused. Each connection has its own
/// deadline for the hello and a bounded outbox (<see cref="PbmConnectionHandler"/>).
/// </summary>
public sealed class PbmHost : ReceiveActor
{
    public const int MaxConnections = 64;

    public const int MaxWaitingPerAddress = 8;

    private readonly PbmHostSettings _settings;
    private readonly IReadOnlyList<IPalette> _palettes;
    private readonly string _node;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<IActorRef, Connection> _connections = new();
    private long _accepted;

    public PbmHost(PbmHostSettings settings, IReadOnlyList<IPalette> palettes, string node)
    {
        _settings = settings;
        _palettes = palettes;
        _node = node;
        Receive<Tcp.Bound>(b => _log.Info("pbm host listening on {0}", b.LocalAddress));
        Receive<Tcp.CommandFailed>(f => _log.Error("pbm host cannot listen on {0}:{1}: {2}", _settings.Host, _settings.Port, f.CauseString));
        Receive<Tcp.Connected>(c => Accept(Sender, c));
        Receive<PbmConnectionHandler.Greeted>(_ =>
        {
            if (_connections.TryGetValue(Sender, out Connection? connection))
            {
                connection.Greeted = true;
            }
        });
        Receive<Terminated>(t =>
        {
            _connections.Remove(t.ActorRef); // (a statement: a bool-returning lambda would mean "unhandled" when it was evicted already)
        });

        // a refused connection's last events
        Receive<Tcp.ConnectionClosed>(_ => { });
        Receive<Tcp.Received>(_ => { });
    }

    private void Accept(IActorRef tcp, Tcp.Connected connected)
    {
        string address = connected.RemoteAddress is IPEndPoint ip ? ip.Address.ToString() : connected.RemoteAddress.ToString()!;
        List<KeyValuePair<IActorRef, Connection>> waiting = _connections.Where(c => !c.Value.Greeted).OrderBy(c => c.Value.Number).ToList();
        IActorRef? evict = waiting.Count(c => c.Value.Address == address) >= MaxWaitingPerAddress
            ? waiting.First(c => c.Value.Address == address).Key
            : _connections.Count >= MaxConnections ? waiting.FirstOrDefault().Key : null;
        if (evict is not null)
        {
            _log.Warning("pbm connection from {0} closed to make room: it has not said hello and {1}", _connections[evict].Address,
                _connections.Count >= MaxConnections ? $"{MaxConnections} connections are open" : $"{MaxWaitingPerAddress} from that address wait for theirs");
            _connections.Remove(evict);
            Context.Stop(evict);
        }
        else if (_connections.Count >= MaxConnections)
        {
            _log.Warning("pbm connection from {0} refused: {1} connections are open, all of them greeted", address, MaxConnections);
            tcp.Tell(new Tcp.Register(Self));
            tcp.Tell(Tcp.Abort.Instance);
            return;
        }

        IActorRef handler = Context.ActorOf(PbmConnectionHandler.Props(tcp, _settings.Token, _palettes, _node, connected.RemoteAddress.ToString()!));
        Context.Watch(handler);
        _connections[handler] = new Connection(address, ++_accepted);
        tcp.Tell(new Tcp.Register(handler));
    }

    private sealed class Connection(string address, long number)
    {
        public string Address { get; } = address;

        public long Number { get; } = number;

        public bool Greeted { get; set; }
    }

    public static Props Props(PbmHostSettings settings, IReadOnlyList<IPalette> palettes, string node) =>
        Akka.Actor.Props.Create(() => new PbmHost(settings, palettes, node));

    protected override void PreStart() =>
        Context.System.Tcp().Tell(new Tcp.Bind(Self, new IPEndPoint(IPAddress.Parse(_settings.Host), _settings.Port)));
}

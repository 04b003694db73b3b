using CnnCluster.Security;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Event;

namespace CnnCluster.Shared.Pbm;

/// <summary>
/// The pbm command host of a node (DESIGN §6): accepts connections on a listener bound by
/// <see cref="PbmHostSettings.Listen"/> (System.Net sockets, so that a connection can be TLS) and gives
/// every connection its own <see cref="PbmConnectionHandler"/>, which serves this node's palettes.
/// A connection that breaks the protocol is closed; the host keeps serving the others.
/// Connections are bounded: at most <see cref="MaxConnections"/> in all and <see cref="MaxWaitingPerAddress"/>
/// per address that have not said hello yet. Past either limit the oldest connection still waiting for
/// its hello is closed to make room (a flood of silent or half-sent connections cannot keep a real
/// client out); with every connection greeted, a new one is refused. Each connection has its own
/// deadline for the hello and a bounded outbox (<see cref="PbmConnectionHandler"/>). An address that
/// failed <see cref="PbmHostSettings.MaxFailedHellos"/> hellos (missing or wrong token) within
/// <see cref="PbmHostSettings.FailedHelloWindow"/> hears "too many failed attempts" for every wrong token until the
/// window passes, while the right token still gets in from it (behind Docker's port mapping every client shares
/// the bridge's address: a stranger's failures must not lock the operator out; a node's token is too long to guess).
/// The listener belongs to the caller: stopping the host stops accepting, the port stays bound.
/// </summary>
public sealed class PbmHost : ReceiveActor
{
    public const int MaxConnections = 64;

    public const int MaxWaitingPerAddress = 8;

    /// <summary>Addresses whose failures are remembered at most (a scan from many addresses cannot grow the node).</summary>
    private const int MaxRememberedAddresses = 4096;

    private readonly PbmHostSettings _settings;
    private readonly TcpListener _listener;
    private readonly IReadOnlyList<IPalette> _palettes;
    private readonly string _node;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<IActorRef, Connection> _connections = new();
    private readonly FailedAttempts _failures = new(PbmHostSettings.MaxFailedHellos, PbmHostSettings.FailedHelloWindow, MaxRememberedAddresses);
    private readonly CancellationTokenSource _stop = new();
    private long _accepted;

    public PbmHost(PbmHostSettings settings, TcpListener listener, IReadOnlyList<IPalette> palettes, string node)
    {
        _settings = settings;
        _listener = listener;
        _palettes = palettes;
        _node = node;
        Receive<Accepted>(a =>
        {
            Accept(a.Socket);
        });
        Receive<PbmConnectionHandler.Greeted>(_ =>
        {
            if (_connections.TryGetValue(Sender, out Connection? connection))
            {
                connection.Greeted = true;
            }
        });
        Receive<PbmConnectionHandler.HelloFailed>(f =>
        {
            Failed(f.Address);
        });
        Receive<Terminated>(t =>
        {
            _connections.Remove(t.ActorRef); // (a statement: a bool-returning lambda would mean "unhandled" when it was evicted already)
        });
    }

    public static Props Props(PbmHostSettings settings, TcpListener listener, IReadOnlyList<IPalette> palettes, string node) =>
        Akka.Actor.Props.Create(() => new PbmHost(settings, listener, palettes, node));

    protected override void PreStart()
    {
        _log.Info("pbm host listening on {0}{1}", _listener.LocalEndpoint, _settings.Trust is null ? string.Empty : " (TLS)");
        _ = AcceptLoop(_listener, Self, _log, _stop.Token);
    }

    protected override void PostStop() => _stop.Cancel();

    private static async Task AcceptLoop(TcpListener listener, IActorRef host, ILoggingAdapter log, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptSocketAsync(stop).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException || stop.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException e)
            {
                // e.g. out of file descriptors: keep accepting once some are free
                log.Warning("pbm host: accept failed: {0}", e.Message);
                await Task.Delay(100, CancellationToken.None).ConfigureAwait(false);
                continue;
            }

            if (stop.IsCancellationRequested)
            {
                socket.Dispose();
                return;
            }

            socket.NoDelay = true;
            host.Tell(new Accepted(socket));
        }
    }

    private void Accept(Socket socket)
    {
        EndPoint? remote;
        try
        {
            remote = socket.RemoteEndPoint;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            socket.Dispose(); // gone before we looked
            return;
        }

        string address = remote is IPEndPoint ip ? (ip.Address.IsIPv4MappedToIPv6 ? ip.Address.MapToIPv4() : ip.Address).ToString() : remote?.ToString() ?? "?";
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
            socket.Dispose();
            return;
        }

        string? refusal = _failures.Refusal(address, DateTime.UtcNow)?.Message;
        IActorRef handler = Context.ActorOf(PbmConnectionHandler.Props(socket, _settings, _palettes, _node, remote?.ToString() ?? address, address, refusal));
        Context.Watch(handler);
        _connections[handler] = new Connection(address, ++_accepted);
    }

    private void Failed(string address)
    {
        if (_failures.Record(address, DateTime.UtcNow))
        {
            _log.Warning("pbm: {0} failed hellos from {1} within {2} s: its wrong tokens are answered so for a while (the right one still gets in)", _failures.Limit, address, _failures.Window.TotalSeconds);
        }
    }

    /// <summary>Accept loop → host: a new connection.</summary>
    private sealed record Accepted(Socket Socket);

    private sealed class Connection(string address, long number)
    {
        public string Address { get; } = address;

        public long Number { get; } = number;

        public bool Greeted { get; set; }
    }
}

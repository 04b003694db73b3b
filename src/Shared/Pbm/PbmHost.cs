using System.Net;
using Akka.Actor;
using Akka.Event;
using Akka.IO;

namespace CnnCluster.Shared.Pbm;

/// <summary>
/// The pbm command host of a node (DESIGN §6): listens on PBM_HOST:PBM_PORT with Akka.IO TCP and gives
/// every connection its own <see cref="PbmConnectionHandler"/>, which serves this node's palettes.
/// A connection that breaks the protocol is closed; the host keeps serving the others.
/// </summary>
public sealed class PbmHost : ReceiveActor
{
    private readonly PbmHostSettings _settings;
    private readonly IReadOnlyList<IPalette> _palettes;
    private readonly string _node;
    private readonly ILoggingAdapter _log = Context.GetLogger();

    public PbmHost(PbmHostSettings settings, IReadOnlyList<IPalette> palettes, string node)
    {
        _settings = settings;
        _palettes = palettes;
        _node = node;
        Receive<Tcp.Bound>(b => _log.Info("pbm host listening on {0}", b.LocalAddress));
        Receive<Tcp.CommandFailed>(f => _log.Error("pbm host cannot listen on {0}:{1}: {2}", _settings.Host, _settings.Port, f.CauseString));
        Receive<Tcp.Connected>(c =>
        {
            IActorRef handler = Context.ActorOf(PbmConnectionHandler.Props(Sender, _settings.Token, _palettes, _node, c.RemoteAddress.ToString()!));
            Sender.Tell(new Tcp.Register(handler));
        });
    }

    public static Props Props(PbmHostSettings settings, IReadOnlyList<IPalette> palettes, string node) =>
        Akka.Actor.Props.Create(() => new PbmHost(settings, palettes, node));

    protected override void PreStart() =>
        Context.System.Tcp().Tell(new Tcp.Bind(Self, new IPEndPoint(IPAddress.Parse(_settings.Host), _settings.Port)));
}

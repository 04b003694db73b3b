using System.Net.Sockets;
using Akka.Actor;
using Akka.Event;
using CnnCluster.PbmProtocol;

namespace CnnCluster.Shared.Pbm;

/// <summary>
/// One pbm client connection as three behaviours: <see cref="Hello"/> (frames of at most
/// <see cref="Framing.MaxHelloFrame"/> bytes, the hello and its token checked within
/// <see cref="HelloDeadline"/>, the TLS handshake counting inside it), <see cref="Serving"/> (each command
/// run by the <see cref="PbmCommandRunner"/>, its lines and files streamed back as they come; a
/// <see cref="CancelCommand"/> cancels one) and <see cref="Closing"/> (what is queued, a refusal, is
/// written, then the sending side is shut and the client has <see cref="Linger"/> to read and go). The
/// socket's reading and writing is the <see cref="PbmSocket"/>'s. Garbage, an oversized length prefix or
/// a frame that is not a message closes this connection only; a client that goes away cancels its
/// commands; a client that does not read what it asked for (a `train tail` never read) is closed once
/// <see cref="MaxOutbox"/> bytes of lines wait. With TLS required, a connection whose first byte is not
/// a TLS record gets a plain-framed <see cref="Refused"/> saying so.
/// </summary>
public sealed class PbmConnectionHandler : ReceiveActor, IWithTimers
{
    public static readonly TimeSpan HelloDeadline = TimeSpan.FromSeconds(10);

    public const int MaxOutbox = 8 << 20;

    public const string TlsRequired = "this node requires TLS: give pbm the cluster's CA (PBM_CA=…/ca.crt or CLUSTER_SECRETS=folder)";

    /// <summary>How long a refused client has to read its refusal and go before the socket is dropped.</summary>
    private static readonly TimeSpan Linger = TimeSpan.FromSeconds(2);

    private readonly PbmSocket _socket;
    private readonly PbmCommandRunner _commands;
    private readonly FrameDecoder _decoder = new();
    private readonly PbmHostSettings _settings;
    private readonly string _node;
    private readonly string _peer;
    private readonly string _address;
    private readonly string? _refusal;
    private readonly ILoggingAdapter _log = Context.GetLogger();

    public PbmConnectionHandler(Socket socket, PbmHostSettings settings, IReadOnlyList<IPalette> palettes, string node, string peer, string address, string? refusal)
    {
        _socket = new PbmSocket(socket, settings.Trust, HelloDeadline, MaxOutbox);
        _commands = new PbmCommandRunner(palettes);
        _settings = settings;
        _node = node;
        _peer = peer;
        _address = address;
        _refusal = refusal;
        Hello();
    }

    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>Handler → host: the client said hello (it no longer counts as waiting).</summary>
    public sealed class Greeted
    {
        public static readonly Greeted Instance = new();
    }

    /// <summary>Handler → host: a hello from <paramref name="Address"/> had a missing or wrong token.</summary>
    public sealed record HelloFailed(string Address);

    public static Props Props(Socket socket, PbmHostSettings settings, IReadOnlyList<IPalette> palettes, string node, string peer, string address, string? refusal) =>
        Akka.Actor.Props.Create(() => new PbmConnectionHandler(socket, settings, palettes, node, peer, address, refusal));

    protected override void PreStart()
    {
        Timers.StartSingleTimer("hello", NoHello.Instance, HelloDeadline);
        _socket.Start(Self);
    }

    protected override void PostStop()
    {
        _commands.Dispose();
        _socket.Dispose(); // stopped by the host to make room, after a close, or the client went: either way the socket goes
    }

    /// <summary>Until the hello: the stream opens (a refusal goes out first), only a hello may come, and only in time.</summary>
    private void Hello()
    {
        Receive<PbmSocket.Opened>(opened =>
        {
            _socket.Ready(opened.Stream);
            if (opened.Plain)
            {
                Send(new Refused(TlsRequired));
                Close("it did not start TLS, which this node requires", flush: true);
                return;
            }

            _socket.WriteNext(Self);
        });
        Receive<PbmSocket.Received>(r => Decode(r, Framing.MaxHelloFrame));
        Receive<Inbound>(i =>
        {
            if (i.Message is not Hello hello)
            {
                Close($"unexpected {i.Message.GetType().Name} before the hello");
            }
            else if (!_settings.Admits(hello.Token))
            {
                // an address with many failures hears so; the right token gets in whoever failed before from there
                Context.Parent.Tell(new HelloFailed(_address));
                Send(new Refused(_refusal ?? "this node requires a token (PBM_TOKEN): the one given is missing or wrong"));
                Close(_refusal ?? (hello.Token is null ? "no token" : "wrong token"), flush: true);
            }
            else
            {
                Timers.Cancel("hello");
                Context.Parent.Tell(Greeted.Instance);
                Send(new Welcome(_node, _commands.Palettes));
                Become(Serving);
            }
        });
        Receive<NoHello>(_ => Close($"no hello within {HelloDeadline.TotalSeconds:0} s"));
        Open();
    }

    /// <summary>Greeted: commands run, their output streams back, a cancel cancels one.</summary>
    private void Serving()
    {
        Receive<PbmSocket.Received>(r => Decode(r, Framing.MaxFrame));
        Receive<Inbound>(i =>
        {
            switch (i.Message)
            {
                case RunCommand command:
                    if (_commands.Start(command, Self) is { } refused)
                    {
                        Send(refused);
                    }

                    break;
                case CancelCommand cancel:
                    if (_commands.Cancel(cancel.Id) is { } cancelled)
                    {
                        Send(cancelled);
                    }

                    break;
                default:
                    Close($"unexpected {i.Message.GetType().Name}");
                    break;
            }
        });
        Receive<PbmCommandRunner.Finished>(f =>
        {
            if (_commands.Ended(f.Result))
            {
                Send(f.Result);
            }
        });
        Receive<IPbmMessage>(m =>
        {
            if (!_commands.FromCancelled(m))
            {
                Send(m);
            }
        });
        Receive<NoHello>(_ => { }); // its timer was cancelled after it fired
        Open();
    }

    /// <summary>Closing after a refusal: what is queued is written, the sending side shut, and the client given time to read it.</summary>
    private void Closing()
    {
        Receive<PbmSocket.Received>(_ => _socket.Taken());
        Receive<PbmSocket.Written>(_ =>
        {
            _socket.WriteDone();
            Drained();
        });
        Receive<Gone>(_ => Context.Stop(Self));
        Receive<PbmSocket.ReadEnded>(_ => Context.Stop(Self));
        Receive<PbmSocket.WriteFailed>(_ => Context.Stop(Self));
        ReceiveAny(_ => { }); // late output, a late hello deadline: nothing more goes out
    }

    /// <summary>What an open connection (hello or serving) does with its socket's news.</summary>
    private void Open()
    {
        Receive<PbmSocket.Written>(_ =>
        {
            _socket.WriteDone();
            _socket.WriteNext(Self);
        });
        Receive<PbmSocket.WriteFailed>(_ => Context.Stop(Self));
        Receive<PbmSocket.ReadEnded>(r =>
        {
            if (r.Why is not null)
            {
                _log.Warning("pbm connection from {0} closed: {1}", _peer, r.Why);
            }

            Context.Stop(Self);
        });
    }

    /// <summary>A chunk from the client: its frames are handled one by one, in order, by whatever behaviour each finds.</summary>
    private void Decode(PbmSocket.Received received, int maxFrame)
    {
        try
        {
            foreach (IPbmMessage m in _decoder.Decode(received.Data, maxFrame))
            {
                Self.Tell(new Inbound(m));
            }
        }
        catch (FramingException e)
        {
            Close($"protocol error: {e.Message}");
        }
        finally
        {
            _socket.Taken();
        }
    }

    private void Send(IPbmMessage message)
    {
        if (!_socket.Enqueue(message))
        {
            Close("the client does not read: more output waits for it than a client may leave unread");
            return;
        }

        _socket.WriteNext(Self);
    }

    /// <summary>Closes the connection: at once, or with <paramref name="flush"/> after what is queued (a refusal) is written.</summary>
    private void Close(string reason, bool flush = false)
    {
        _log.Warning("pbm connection from {0} closed: {1}", _peer, reason);
        _commands.CancelAll();
        if (!flush || !_socket.Open)
        {
            Context.Stop(Self);
            return;
        }

        Become(Closing);
        Drained();
    }

    /// <summary>Once nothing is left to write: the sending side is shut (closing with unread input would reset it and lose the refusal).</summary>
    private void Drained()
    {
        if (!_socket.WriteNext(Self))
        {
            return;
        }

        if (!_socket.ShutdownSend())
        {
            Context.Stop(Self);
            return;
        }

        Timers.StartSingleTimer("linger", Gone.Instance, Linger);
    }

    /// <summary>A frame from the client, decoded.</summary>
    private sealed record Inbound(IPbmMessage Message);

    private sealed class NoHello
    {
        public static readonly NoHello Instance = new();
    }

    private sealed class Gone
    {
        public static readonly Gone Instance = new();
    }
}

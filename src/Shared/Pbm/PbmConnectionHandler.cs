using Akka.Actor;
using Akka.Event;
using Akka.IO;
using CnnCluster.PbmProtocol;

namespace CnnCluster.Shared.Pbm;

/// <summary>
/// One pbm client connection: reassembles frames, checks the hello (and token), answers with the
/// palettes, runs each command as a task whose output lines and files stream back as they come, and
/// writes frames one at a time with acknowledgements so a slow client cannot flood the node. Garbage,
/// an oversized length prefix or a frame that is not a message closes this connection only; a client
/// that goes away cancels its running commands. Before its hello a client gets <see cref="HelloDeadline"/>
/// and frames of at most <see cref="Framing.MaxHelloFrame"/> bytes; a client that does not read what it
/// asked for (a `train tail` never read) is closed once <see cref="MaxOutbox"/> bytes of lines wait
/// (files, bounded by the model's size, are not counted).
/// </summary>
public sealed class PbmConnectionHandler : ReceiveActor, IWithTimers
{
    public static readonly TimeSpan HelloDeadline = TimeSpan.FromSeconds(10);

    public const int MaxOutbox = 8 << 20;

    private readonly IActorRef _connection;
    private readonly string? _token;
    private readonly IReadOnlyList<IPalette> _palettes;
    private readonly string _node;
    private readonly string _peer;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Queue<(byte[] Frame, bool Counted)> _outbox = new();
    private long _outboxBytes;
    private readonly CancellationTokenSource _closed = new();
    private byte[] _buffer = new byte[16 * 1024];
    private int _length;
    private bool _greeted;
    private bool _writing;
    private bool _closing;

    public PbmConnectionHandler(IActorRef connection, string? token, IReadOnlyList<IPalette> palettes, string node, string peer)
    {
        _connection = connection;
        _token = token;
        _palettes = palettes;
        _node = node;
        _peer = peer;
        Receive<Tcp.Received>(r => OnBytes(r.Data.ToArray()));
        Receive<IPbmMessage>(Send);
        Receive<Acked>(_ =>
        {
            _writing = false;
            WriteNext();
        });
        Receive<Tcp.ConnectionClosed>(_ => Context.Stop(Self));
        Receive<Tcp.CommandFailed>(_ => Context.Stop(Self));
        Receive<NoHello>(_ =>
        {
            if (!_greeted)
            {
                Close($"no hello within {HelloDeadline.TotalSeconds:0} s");
            }
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>Handler → host: the client said hello (it no longer counts as waiting).</summary>
    public sealed class Greeted
    {
        public static readonly Greeted Instance = new();
    }

    protected override void PreStart() => Timers.StartSingleTimer("hello", NoHello.Instance, HelloDeadline);

    public static Props Props(IActorRef connection, string? token, IReadOnlyList<IPalette> palettes, string node, string peer) =>
        Akka.Actor.Props.Create(() => new PbmConnectionHandler(connection, token, palettes, node, peer));

    protected override void PostStop()
    {
        _closed.Cancel();
        _connection.Tell(Tcp.Abort.Instance); // stopped by the host to make room, or after a close: either way the socket goes
    }

    private void OnBytes(byte[] data)
    {
        List<IPbmMessage> messages;
        try
        {
            Framing.Append(ref _buffer, ref _length, data);
            messages = Framing.Decode(ref _buffer, ref _length, _greeted ? Framing.MaxFrame : Framing.MaxHelloFrame);
        }
        catch (FramingException e)
        {
            Close($"protocol error: {e.Message}");
            return;
        }

        foreach (IPbmMessage m in messages)
        {
            Handle(m);
        }
    }

    private void Handle(IPbmMessage message)
    {
        switch (message)
        {
            case Hello hello when !_greeted:
                if (_token is not null && hello.Token != _token)
                {
                    Send(new Refused("this node requires a token (PBM_TOKEN): the one given is missing or wrong"));
                    Close("wrong token");
                    return;
                }

                _greeted = true;
                Context.Parent.Tell(Greeted.Instance);
                Send(new Welcome(_node, _palettes.Select(p => p.Info).ToArray()));
                break;
            case RunCommand command when _greeted:
                Run(command);
                break;
            default:
                Close($"unexpected {message.GetType().Name}{(_greeted ? string.Empty : " before the hello")}");
                break;
        }
    }

    private void Run(RunCommand command)
    {
        IPalette? palette = _palettes.FirstOrDefault(p => p.Info.Name == command.Palette);
        CommandInfo? info = palette?.Info.Commands.FirstOrDefault(c => c.Name == command.Command);
        if (palette is null || info is null)
        {
            string error = palette is null
                ? $"unknown palette '{command.Palette}'; valid: {string.Join(", ", _palettes.Select(p => p.Info.Name))}"
                : $"unknown command '{command.Command}' in palette '{command.Palette}'; valid: {string.Join(", ", palette.Info.Commands.Select(c => c.Name))}";
            Send(new CommandResult(command.Id, 2, error));
            return;
        }

        ParsedCommand parsed;
        try
        {
            parsed = ParsedCommand.Parse(info, command.Arguments);
        }
        catch (CommandException e)
        {
            Send(new CommandResult(command.Id, 2, e.Message));
            return;
        }

        IActorRef self = Self;
        var output = new Output(command.Id, self);
        Task.Run(() => palette.ExecuteAsync(parsed, output, _closed.Token), _closed.Token).ContinueWith(
            t => (IPbmMessage)(t.Status switch
            {
                TaskStatus.RanToCompletion => new CommandResult(command.Id, t.Result, null),
                TaskStatus.Canceled => new CommandResult(command.Id, 130, "cancelled"),
                _ => t.Exception!.GetBaseException() is CommandException ce
                    ? new CommandResult(command.Id, 1, ce.Message)
                    : new CommandResult(command.Id, 1, $"internal error: {t.Exception!.GetBaseException().Message}"),
            }),
            TaskScheduler.Default).PipeTo(self);
    }

    private void Send(IPbmMessage message)
    {
        if (_closing)
        {
            return;
        }

        byte[] frame = Framing.Encode(message);
        bool counted = message is not FileChunk;
        _outbox.Enqueue((frame, counted));
        _outboxBytes += counted ? frame.Length : 0;
        if (_outboxBytes > MaxOutbox)
        {
            _outbox.Clear();
            Close($"the client does not read: {_outboxBytes >> 20} MiB of output wait for it");
            return;
        }

        WriteNext();
    }

    private void WriteNext()
    {
        if (_writing || _outbox.Count == 0)
        {
            return;
        }

        _writing = true;
        (byte[] frame, bool counted) = _outbox.Dequeue();
        _outboxBytes -= counted ? frame.Length : 0;
        _connection.Tell(Tcp.Write.Create(ByteString.FromBytes(frame), Acked.Instance));
    }

    private void Close(string reason)
    {
        if (_closing)
        {
            return;
        }

        _log.Warning("pbm connection from {0} closed: {1}", _peer, reason);
        _closing = true;
        _connection.Tell(Tcp.Close.Instance);
        _closed.Cancel();
    }

    private sealed class NoHello
    {
        public static readonly NoHello Instance = new();
    }

    private sealed class Acked : Tcp.Event
    {
        public static readonly Acked Instance = new();
    }

    /// <summary>A command's output, sent to the handler from any thread.</summary>
    private sealed class Output(int id, IActorRef handler) : ICommandOutput
    {
        public void Line(string text) => handler.Tell(new PbmProtocol.Output(id, text));

        public void File(string path, byte[] bytes)
        {
            for (int offset = 0; ; offset += Framing.FileChunkSize)
            {
                int n = Math.Min(Framing.FileChunkSize, bytes.Length - offset);
                bool last = offset + n >= bytes.Length;
                handler.Tell(new FileChunk(id, path, bytes.AsSpan(offset, n).ToArray(), last));
                if (last)
                {
                    return;
                }
            }
        }
    }
}

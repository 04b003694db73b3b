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
/// that goes away cancels its running commands.
/// </summary>
public sealed class PbmConnectionHandler : ReceiveActor
{
    private readonly IActorRef _connection;
    private readonly string? _token;
    private readonly IReadOnlyList<IPalette> _palettes;
    private readonly string _node;
    private readonly string _peer;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Queue<byte[]> _outbox = new();
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
    }

    public static Props Props(IActorRef connection, string? token, IReadOnlyList<IPalette> palettes, string node, string peer) =>
        Akka.Actor.Props.Create(() => new PbmConnectionHandler(connection, token, palettes, node, peer));

    protected override void PostStop() => _closed.Cancel();

    private void OnBytes(byte[] data)
    {
        List<IPbmMessage> messages;
        try
        {
            Framing.Append(ref _buffer, ref _length, data);
            messages = Framing.Decode(ref _buffer, ref _length);
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

        _outbox.Enqueue(Framing.Encode(message));
        WriteNext();
    }

    private void WriteNext()
    {
        if (_writing || _outbox.Count == 0)
        {
            return;
        }

        _writing = true;
        _connection.Tell(Tcp.Write.Create(ByteString.FromBytes(_outbox.Dequeue()), Acked.Instance));
    }

    private void Close(string reason)
    {
        _log.Warning("pbm connection from {0} closed: {1}", _peer, reason);
        _closing = true;
        _connection.Tell(Tcp.Close.Instance);
        _closed.Cancel();
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

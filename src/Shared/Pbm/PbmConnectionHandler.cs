using System.Net.Sockets;
using System.Security.Authentication;
using Akka.Actor;
using Akka.Event;
using CnnCluster.PbmProtocol;
using CnnCluster.Security;

namespace CnnCluster.Shared.Pbm;

/// <summary>
/// One pbm client connection: reassembles frames, checks the hello (and token), answers with the
/// palettes, runs each command as a task whose output lines and files stream back as they come, and
/// writes frames one at a time with acknowledgements so a slow client cannot flood the node. Garbage,
/// an oversized length prefix or a frame that is not a message closes this connection only; a client
/// that goes away cancels its running commands, and a <see cref="CancelCommand"/> cancels one of them (its
/// result, 130 "cancelled", is sent at once; what it still prints is dropped). Before its hello a client gets <see cref="HelloDeadline"/>
/// (the TLS handshake counts inside it) and frames of at most <see cref="Framing.MaxHelloFrame"/> bytes;
/// a client that does not read what it asked for (a `train tail` never read) is closed once
/// <see cref="MaxOutbox"/> bytes of lines wait (files, bounded by the model's size, are not counted).
/// Socket I/O runs in tasks that tell this actor what they read (one chunk at a time: the next read
/// waits until the actor has taken it) and when a write is done. With TLS required, a connection
/// whose first byte is not a TLS record gets a plain-framed <see cref="Refused"/> saying so.
/// A refusal (wrong token, TLS missing, a locked-out address) is written before the connection closes.
/// </summary>
public sealed class PbmConnectionHandler : ReceiveActor, IWithTimers
{
    public static readonly TimeSpan HelloDeadline = TimeSpan.FromSeconds(10);

    public const int MaxOutbox = 8 << 20;

    /// <summary>How long a refused client has to read its refusal and go before the socket is dropped.</summary>
    private static readonly TimeSpan Linger = TimeSpan.FromSeconds(2);

    /// <summary>The first byte of a TLS handshake record.</summary>
    private const byte TlsHandshake = 0x16;

    public const string TlsRequired = "this node requires TLS: give pbm the cluster's CA (PBM_CA=…/ca.crt or CLUSTER_SECRETS=folder)";

    private readonly Socket _socket;
    private readonly PbmHostSettings _settings;
    private readonly IReadOnlyList<IPalette> _palettes;
    private readonly string _node;
    private readonly string _peer;
    private readonly string _address;
    private readonly string? _refusal;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Queue<(byte[] Frame, bool Counted)> _outbox = new();
    private readonly CancellationTokenSource _closed = new();  // commands
    private readonly CancellationTokenSource _dropped = new(); // socket I/O
    private readonly SemaphoreSlim _taken = new(0);
    private readonly Dictionary<int, RunningCommand> _running = new();
    private long _outboxBytes;
    private Stream? _stream;
    private byte[] _buffer = new byte[16 * 1024];
    private int _length;
    private bool _greeted;
    private bool _writing;
    private bool _closing;
    private bool _lingering;

    public PbmConnectionHandler(Socket socket, PbmHostSettings settings, IReadOnlyList<IPalette> palettes, string node, string peer, string address, string? refusal)
    {
        _socket = socket;
        _settings = settings;
        _palettes = palettes;
        _node = node;
        _peer = peer;
        _address = address;
        _refusal = refusal;
        Receive<Ready>(r =>
        {
            OnReady(r);
        });
        Receive<Received>(r =>
        {
            if (!_closing)
            {
                OnBytes(r.Data);
            }

            _taken.Release();
        });
        Receive<ReadEnded>(r =>
        {
            if (r.Why is not null && !_closing)
            {
                _log.Warning("pbm connection from {0} closed: {1}", _peer, r.Why);
            }

            Context.Stop(Self);
        });
        Receive<Finished>(f =>
        {
            OnFinished(f);
        });
        Receive<IPbmMessage>(m =>
        {
            if (!FromCancelled(m))
            {
                Send(m);
            }
        });
        Receive<Written>(_ =>
        {
            _writing = false;
            WriteNext();
        });
        Receive<WriteFailed>(_ =>
        {
            Context.Stop(Self);
        });
        Receive<NoHello>(_ =>
        {
            if (!_greeted)
            {
                Close($"no hello within {HelloDeadline.TotalSeconds:0} s");
            }
        });
        Receive<Gone>(_ =>
        {
            Context.Stop(Self);
        });
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
        _ = ReadLoop(_socket, _settings.Trust, Self, _taken, _dropped.Token);
    }

    protected override void PostStop()
    {
        _closed.Cancel();
        _dropped.Cancel();
        foreach (RunningCommand running in _running.Values)
        {
            running.Cancellation.Dispose();
        }

        _socket.Dispose(); // stopped by the host to make room, after a close, or the client went: either way the socket goes
    }

    /// <summary>
    /// The connection's reader: with TLS, peeks at the first byte (a client without TLS is told so in
    /// plain frames) and shakes hands; then reads chunk after chunk, each after the actor took the last.
    /// </summary>
    private static async Task ReadLoop(Socket socket, ClusterTrust? trust, IActorRef self, SemaphoreSlim taken, CancellationToken dropped)
    {
        try
        {
            var network = new NetworkStream(socket, ownsSocket: false);
            Stream stream = network;
            if (trust is not null)
            {
                var first = new byte[1];
                if (await socket.ReceiveAsync(first, SocketFlags.Peek, dropped).ConfigureAwait(false) == 0)
                {
                    self.Tell(new ReadEnded(null));
                    return;
                }

                if (first[0] == TlsHandshake)
                {
                    try
                    {
                        stream = await Tls.ServerAsync(network, trust, HelloDeadline, dropped, mutual: false).ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is AuthenticationException or IOException or OperationCanceledException)
                    {
                        self.Tell(new ReadEnded(Tls.Reason(e, HelloDeadline)));
                        return;
                    }
                }

                self.Tell(new Ready(stream, Plain: first[0] != TlsHandshake));
            }
            else
            {
                self.Tell(new Ready(stream, Plain: false));
            }

            var chunk = new byte[16 * 1024];
            while (true)
            {
                int n = await stream.ReadAsync(chunk, dropped).ConfigureAwait(false);
                if (n == 0)
                {
                    self.Tell(new ReadEnded(null));
                    return;
                }

                self.Tell(new Received(chunk[..n]));
                await taken.WaitAsync(dropped).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            if (!dropped.IsCancellationRequested)
            {
                self.Tell(new ReadEnded(null)); // reset by the client: nothing to add
            }
        }
    }

    private void OnReady(Ready ready)
    {
        _stream = ready.Stream;
        if (ready.Plain)
        {
            Send(new Refused(TlsRequired));
            Close("it did not start TLS, which this node requires", flush: true);
        }
        else if (_refusal is not null)
        {
            Send(new Refused(_refusal));
            Close(_refusal, flush: true);
        }
        else
        {
            WriteNext();
        }
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
            if (_closing)
            {
                return;
            }

            Handle(m);
        }
    }

    private void Handle(IPbmMessage message)
    {
        switch (message)
        {
            case Hello hello when !_greeted:
                if (!_settings.Admits(hello.Token))
                {
                    Context.Parent.Tell(new HelloFailed(_address));
                    Send(new Refused("this node requires a token (PBM_TOKEN): the one given is missing or wrong"));
                    Close(hello.Token is null ? "no token" : "wrong token", flush: true);
                    return;
                }

                _greeted = true;
                Timers.Cancel("hello");
                Context.Parent.Tell(Greeted.Instance);
                Send(new Welcome(_node, _palettes.Select(p => p.Info).ToArray()));
                break;
            case RunCommand command when _greeted:
                Run(command);
                break;
            case CancelCommand cancel when _greeted:
                Cancel(cancel.Id);
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
                ? $"unknown palette '{command.Palette}'{DidYouMean.Hint(command.Palette, _palettes.Select(p => p.Info.Name).ToArray())}"
                : $"unknown command '{command.Command}' in palette '{command.Palette}'{DidYouMean.Hint(command.Command, palette.Info.Commands.Select(c => c.Name).ToArray())}";
            Send(new CommandResult(command.Id, 2, error));
            return;
        }

        if (_running.ContainsKey(command.Id))
        {
            Send(new CommandResult(command.Id, 2, $"command {command.Id} is already running on this connection"));
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
        var running = new RunningCommand(CancellationTokenSource.CreateLinkedTokenSource(_closed.Token));
        _running[command.Id] = running;
        CancellationToken cancellation = running.Cancellation.Token;
        Task.Run(() => palette.ExecuteAsync(parsed, output, cancellation), cancellation).ContinueWith(
            t => new Finished(t.Status switch
            {
                TaskStatus.RanToCompletion => new CommandResult(command.Id, t.Result, null),
                TaskStatus.Canceled => Cancelled(command.Id),
                _ => t.Exception!.GetBaseException() is CommandException ce
                    ? new CommandResult(command.Id, 1, ce.Message)
                    : new CommandResult(command.Id, 1, $"internal error: {t.Exception!.GetBaseException().Message}"),
            }),
            TaskScheduler.Default).PipeTo(self);
    }

    private static CommandResult Cancelled(int id) => new(id, 130, "cancelled");

    /// <summary>The client's Ctrl-C: the command's token is cancelled and its result sent now, not when it notices.</summary>
    private void Cancel(int id)
    {
        if (_running.TryGetValue(id, out RunningCommand? running) && !running.Cancelled)
        {
            running.Cancelled = true;
            running.Cancellation.Cancel();
            Send(Cancelled(id));
        }
    }

    /// <summary>A command ended: its result goes out, unless it was cancelled (the client has that result already).</summary>
    private void OnFinished(Finished finished)
    {
        if (_running.Remove(finished.Result.Id, out RunningCommand? running))
        {
            running.Cancellation.Dispose();
            if (!running.Cancelled)
            {
                Send(finished.Result);
            }
        }
    }

    /// <summary>Output or a file of a command the client cancelled: it is not waiting for them any more.</summary>
    private bool FromCancelled(IPbmMessage message)
    {
        int? id = message switch
        {
            PbmProtocol.Output o => o.Id,
            FileChunk f => f.Id,
            _ => null,
        };
        return id is int i && _running.TryGetValue(i, out RunningCommand? running) && running.Cancelled;
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
        if (_writing || _stream is null)
        {
            return;
        }

        if (_outbox.Count == 0)
        {
            if (_closing)
            {
                LingerThenDrop();
            }

            return;
        }

        _writing = true;
        (byte[] frame, bool counted) = _outbox.Dequeue();
        _outboxBytes -= counted ? frame.Length : 0;
        _stream.WriteAsync(frame).AsTask().ContinueWith(
            t => t.IsCompletedSuccessfully ? (object)Written.Instance : WriteFailed.Instance,
            TaskScheduler.Default).PipeTo(Self);
    }

    /// <summary>
    /// Closes the connection: at once, or with <paramref name="flush"/> after what is queued (a refusal)
    /// is written; then the sending side is shut and the client has <see cref="Linger"/> to read and go
    /// (closing a socket with unread input would reset it and lose the refusal).
    /// </summary>
    private void Close(string reason, bool flush = false)
    {
        if (_closing)
        {
            return;
        }

        _log.Warning("pbm connection from {0} closed: {1}", _peer, reason);
        _closing = true;
        _closed.Cancel();
        if (!flush || _stream is null)
        {
            Context.Stop(Self);
            return;
        }

        WriteNext();
    }

    private void LingerThenDrop()
    {
        if (_lingering)
        {
            return;
        }

        _lingering = true;
        try
        {
            _socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            Context.Stop(Self);
            return;
        }

        Timers.StartSingleTimer("linger", Gone.Instance, Linger);
    }

    private sealed record Ready(Stream Stream, bool Plain);

    /// <summary>A command's task ended with this result.</summary>
    private sealed record Finished(CommandResult Result);

    /// <summary>A command in flight: its own token (linked to the connection's) and whether the client cancelled it.</summary>
    private sealed class RunningCommand(CancellationTokenSource cancellation)
    {
        public CancellationTokenSource Cancellation { get; } = cancellation;

        public bool Cancelled { get; set; }
    }

    private sealed record Received(byte[] Data);

    /// <summary>The reader ended: the client closed (<paramref name="Why"/> null) or the TLS handshake failed.</summary>
    private sealed record ReadEnded(string? Why);

    private sealed class NoHello
    {
        public static readonly NoHello Instance = new();
    }

    private sealed class Gone
    {
        public static readonly Gone Instance = new();
    }

    private sealed class Written
    {
        public static readonly Written Instance = new();
    }

    private sealed class WriteFailed
    {
        public static readonly WriteFailed Instance = new();
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

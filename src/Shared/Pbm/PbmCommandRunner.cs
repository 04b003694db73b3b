using Akka.Actor;
using CnnCluster.PbmProtocol;

namespace CnnCluster.Shared.Pbm;

/// <summary>
/// The commands of one pbm connection: each runs as a task with its own cancellation (linked to the
/// connection's), its output lines and files told to the connection actor as they come. A cancelled
/// command's result (130 "cancelled") is the client's at once; what it still prints is dropped.
/// </summary>
public sealed class PbmCommandRunner(IReadOnlyList<IPalette> palettes) : IDisposable
{
    private readonly CancellationTokenSource _closed = new();
    private readonly Dictionary<int, RunningCommand> _running = new();

    public PaletteInfo[] Palettes => palettes.Select(p => p.Info).ToArray();

    /// <summary>Starts the command, its output and its end told to <paramref name="handler"/>; the result at once when it cannot start.</summary>
    public CommandResult? Start(RunCommand command, IActorRef handler)
    {
        IPalette? palette = palettes.FirstOrDefault(p => p.Info.Name == command.Palette);
        CommandInfo? info = palette?.Info.Commands.FirstOrDefault(c => c.Name == command.Command);
        if (palette is null || info is null)
        {
            return new CommandResult(command.Id, 2, palette is null
                ? $"unknown palette '{command.Palette}'{DidYouMean.Hint(command.Palette, palettes.Select(p => p.Info.Name).ToArray())}"
                : $"unknown command '{command.Command}' in palette '{command.Palette}'{DidYouMean.Hint(command.Command, palette.Info.Commands.Select(c => c.Name).ToArray())}");
        }

        if (_running.ContainsKey(command.Id))
        {
            return new CommandResult(command.Id, 2, $"command {command.Id} is already running on this connection");
        }

        ParsedCommand parsed;
        try
        {
            parsed = ParsedCommand.Parse(info, command.Arguments);
        }
        catch (CommandException e)
        {
            return new CommandResult(command.Id, 2, e.Message);
        }

        var running = new RunningCommand(CancellationTokenSource.CreateLinkedTokenSource(_closed.Token));
        _running[command.Id] = running;
        CancellationToken cancellation = running.Cancellation.Token;
        Task.Run(() => palette.ExecuteAsync(parsed, new Output(command.Id, handler), cancellation), cancellation).ContinueWith(
            t => new Finished(t.Status switch
            {
                TaskStatus.RanToCompletion => new CommandResult(command.Id, t.Result, null),
                TaskStatus.Canceled => Cancelled(command.Id),
                _ => t.Exception!.GetBaseException() is CommandException ce
                    ? new CommandResult(command.Id, 1, ce.Message)
                    : new CommandResult(command.Id, 1, $"internal error: {t.Exception!.GetBaseException().Message}"),
            }),
            TaskScheduler.Default).PipeTo(handler);
        return null;
    }

    /// <summary>The client's Ctrl-C: the command's token is cancelled and its result is the client's now, not when it notices.</summary>
    public CommandResult? Cancel(int id)
    {
        if (!_running.TryGetValue(id, out RunningCommand? running) || running.Cancelled)
        {
            return null;
        }

        running.Cancelled = true;
        running.Cancellation.Cancel();
        return Cancelled(id);
    }

    /// <summary>A command ended; true when its result goes out (not when it was cancelled: the client has that result already).</summary>
    public bool Ended(CommandResult result)
    {
        if (!_running.Remove(result.Id, out RunningCommand? running))
        {
            return false;
        }

        running.Cancellation.Dispose();
        return !running.Cancelled;
    }

    /// <summary>Output or a file of a command the client cancelled: it is not waiting for them any more.</summary>
    public bool FromCancelled(IPbmMessage message)
    {
        int? id = message switch
        {
            PbmProtocol.Output o => o.Id,
            FileChunk f => f.Id,
            _ => null,
        };
        return id is int i && _running.TryGetValue(i, out RunningCommand? running) && running.Cancelled;
    }

    /// <summary>The connection closes: every command still running is cancelled.</summary>
    public void CancelAll() => _closed.Cancel();

    public void Dispose()
    {
        _closed.Cancel();
        foreach (RunningCommand running in _running.Values)
        {
            running.Cancellation.Dispose();
        }
    }

    private static CommandResult Cancelled(int id) => new(id, 130, "cancelled");

    /// <summary>A command's task ended with this result.</summary>
    public sealed record Finished(CommandResult Result);

    /// <summary>A command in flight: its own token and whether the client cancelled it.</summary>
    private sealed class RunningCommand(CancellationTokenSource cancellation)
    {
        public CancellationTokenSource Cancellation { get; } = cancellation;

        public bool Cancelled { get; set; }
    }

    /// <summary>A command's output, told to the connection actor from any thread.</summary>
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

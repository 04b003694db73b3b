using CnnCluster.PbmProtocol;
using RadLine;
using Spectre.Console;

namespace CnnCluster.Pbm;

/// <summary>
/// The interactive mode on a terminal (RadLine): line editing, history on the arrows (kept in
/// <see cref="HistoryFile"/>), Tab completion of palettes, commands and switches (<see cref="Completion"/>).
/// Ctrl-C gives a new prompt, or cancels the running command; Ctrl-D on an empty line ends the session.
/// </summary>
public sealed class TerminalLineReader : ILineReader
{
    private readonly LineEditor _editor;
    private readonly Interrupts _interrupts = new();
    private readonly HistoryFile _history;

    public TerminalLineReader(string prompt, IReadOnlyList<PaletteInfo> palettes, HistoryFile history)
    {
        _history = history;
        _editor = new LineEditor
        {
            Prompt = new LineEditorPrompt(Markup.Escape(prompt)),
            Completion = new WordCompletion(new Completion(palettes)),
        };

        // one line at a time: the arrows walk the history (RadLine's default moves between the lines of a multi-line text)
        _editor.KeyBindings.Add<PreviousHistoryCommand>(ConsoleKey.UpArrow);
        _editor.KeyBindings.Add<NextHistoryCommand>(ConsoleKey.DownArrow);
        _editor.KeyBindings.Add(ConsoleKey.D, ConsoleModifiers.Control, () => new EndOfInputCommand());
        foreach (string line in history.Load())
        {
            _editor.History.Add(line);
        }
    }

    /// <summary>True when both ends are a terminal RadLine can drive; else the piped reader is used.</summary>
    public static bool Usable => !Console.IsInputRedirected && !Console.IsOutputRedirected && LineEditor.IsSupported(AnsiConsole.Console);

    public async Task<string?> ReadLineAsync()
    {
        CancellationToken ctrlC = _interrupts.Next();
        string? line;
        try
        {
            line = await _editor.ReadLine(ctrlC);
        }
        catch (OperationCanceledException) when (ctrlC.IsCancellationRequested)
        {
            line = null; // RadLine's wait for a key was cancelled under it
        }

        if (ctrlC.IsCancellationRequested)
        {
            Console.Out.WriteLine("^C"); // the line is dropped, as in a shell
            return string.Empty;
        }

        if (line is null)
        {
            return null;
        }

        if (!string.IsNullOrWhiteSpace(line))
        {
            _history.Append(line);
        }

        return line;
    }

    public CancellationToken NextCommand() => _interrupts.Next();

    public void Dispose() => _interrupts.Dispose();

    /// <summary>Ctrl-D: the end of input on an empty line (as in a shell); else it deletes the character under the cursor.</summary>
    private sealed class EndOfInputCommand : LineEditorCommand
    {
        public override void Execute(LineEditorContext context)
        {
            if (context.Buffer.Content.Length == 0)
            {
                context.Submit(SubmitAction.Cancel);
            }
            else
            {
                new DeleteCommand().Execute(context);
            }
        }
    }

    /// <summary>RadLine's view of the line (before the word, the word, after it) turned into <see cref="Completion"/>'s words.</summary>
    private sealed class WordCompletion(Completion completion) : ITextCompletion
    {
        public IEnumerable<string>? GetCompletions(string prefix, string word, string suffix)
        {
            try
            {
                return completion.Candidates(CommandLine.Split(prefix), word);
            }
            catch (FormatException)
            {
                return null; // inside an open quote: nothing to offer
            }
        }
    }
}

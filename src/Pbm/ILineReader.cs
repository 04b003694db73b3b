namespace CnnCluster.Pbm;

/// <summary>Where the interactive mode gets its lines: a terminal with line editing, or piped input.</summary>
public interface ILineReader : IDisposable
{
    /// <summary>The next line after the prompt; empty after Ctrl-C at the prompt; null at the end of input (Ctrl-D, end of the pipe).</summary>
    Task<string?> ReadLineAsync();

    /// <summary>A token that Ctrl-C cancels while the next command runs (none for piped input, where Ctrl-C ends pbm as before).</summary>
    CancellationToken NextCommand();
}

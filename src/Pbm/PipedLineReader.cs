namespace CnnCluster.Pbm;

/// <summary>Lines from standard input as they come, for scripts that pipe commands into pbm: no editing, no history.</summary>
public sealed class PipedLineReader(string prompt) : ILineReader
{
    public Task<string?> ReadLineAsync()
    {
        Console.Out.Write(prompt + " ");
        return Task.FromResult(Console.In.ReadLine());
    }

    public CancellationToken NextCommand() => CancellationToken.None;

    public void Dispose()
    {
    }
}

namespace CnnCluster.Pbm;

/// <summary>
/// Ctrl-C in the interactive mode: it no longer ends pbm, it cancels the current step (the line being
/// typed, or the running command) through the token <see cref="Next"/> handed out for that step.
/// </summary>
public sealed class Interrupts : IDisposable
{
    private readonly object _gate = new();
    private CancellationTokenSource _current = new();

    public Interrupts() => Console.CancelKeyPress += OnCancelKeyPress;

    /// <summary>A fresh token for the next step; the previous step is over.</summary>
    public CancellationToken Next()
    {
        lock (_gate)
        {
            _current.Dispose();
            _current = new CancellationTokenSource();
            return _current.Token;
        }
    }

    private void OnCancelKeyPress(object? sender, ConsoleCancelEventArgs e)
    {
        e.Cancel = true; // the session goes on
        lock (_gate)
        {
            _current.Cancel();
        }
    }

    public void Dispose()
    {
        Console.CancelKeyPress -= OnCancelKeyPress;
        lock (_gate)
        {
            _current.Dispose();
        }
    }
}

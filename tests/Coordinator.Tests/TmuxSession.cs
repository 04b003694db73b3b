using System.Diagnostics;
using System.Text.RegularExpressions;

namespace CnnCluster.Coordinator.Tests;

/// <summary>
/// A command in a detached tmux pane (a real terminal), driven by send-keys and read by capture-pane.
/// It runs on a tmux server of its own (-L), so disposing it kills that server and nothing else.
/// </summary>
public sealed class TmuxSession : IDisposable
{
    private readonly string _socket = $"cnn-test-{Guid.NewGuid():N}"[..24];
    private const string Name = "pbm";

    /// <summary>Starts <paramref name="command"/> (a shell line) in a 200×50 pane.</summary>
    public TmuxSession(string command) => Tmux("new-session", "-d", "-s", Name, "-x", "200", "-y", "50", command);

    /// <summary>tmux key names (Tab, C-c, Up, Enter) or literal text.</summary>
    public void SendKeys(params string[] keys) => Tmux(["send-keys", "-t", Name, .. keys]);

    /// <summary>The pane as text, with its scrollback, wrapped lines joined, without the spaces a line editor pads lines with.</summary>
    public string Capture() => string.Join('\n', Tmux("capture-pane", "-p", "-J", "-S", "-1000", "-t", Name).Split('\n').Select(l => l.TrimEnd())).TrimEnd();

    /// <summary>Waits until the pane matches <paramref name="pattern"/>; returns the pane.</summary>
    public string WaitFor(string pattern, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            string pane = Alive ? Capture() : string.Empty;
            if (Regex.IsMatch(pane, pattern))
            {
                return pane;
            }

            if (clock.Elapsed > timeout || !Alive)
            {
                throw new TimeoutException($"/{pattern}/ did not appear in the pane (alive: {Alive}):\n{pane}");
            }

            Thread.Sleep(50);
        }
    }

    /// <summary>Whether the pane's command still runs (the session ends with it).</summary>
    public bool Alive => Run("has-session", "-t", Name).Code == 0;

    public void Dispose() => Run("kill-server");

    private string Tmux(params string[] args)
    {
        (int code, string stdout, string stderr) = Run(args);
        if (code != 0)
        {
            throw new InvalidOperationException($"tmux {string.Join(' ', args)}: {stderr.Trim()}");
        }

        return stdout;
    }

    private (int Code, string Stdout, string Stderr) Run(params string[] args)
    {
        var psi = new ProcessStartInfo("tmux") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("-L");
        psi.ArgumentList.Add(_socket);
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using Process p = Process.Start(psi)!;
        Task<string> stdout = p.StandardOutput.ReadToEndAsync();
        string stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr);
    }
}

using System.Diagnostics;
using System.Globalization;

namespace CnnCluster.Bench.Engine;

/// <summary>A <see cref="LayerServer"/> in a child process: its row names, and the seconds per call of a row it times on request.</summary>
public sealed class LayerClient : IDisposable
{
    private readonly Process _process;

    private LayerClient(Process process, List<string>? names, string error)
    {
        _process = process;
        Names = names;
        Error = error;
    }

    /// <summary>The rows, or null when the server did not come up (then <see cref="Error"/> says what it printed).</summary>
    public List<string>? Names { get; }

    public string Error { get; }

    public static Process Launch(string dll, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        start.ArgumentList.Add(dll);
        foreach (string a in args)
        {
            start.ArgumentList.Add(a);
        }

        return Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start");
    }

    public static LayerClient Start(string dll, string model)
    {
        Process process = Launch(dll, LayerServer.Flag, "--layers-of", model);
        string? first = process.StandardOutput.ReadLine();
        if (first is null || !first.StartsWith("items ", StringComparison.Ordinal) || !int.TryParse(first[6..], out int count))
        {
            return new LayerClient(process, null, first ?? process.StandardError.ReadToEnd().Trim());
        }

        var names = new List<string>();
        for (int i = 0; i < count; i++)
        {
            names.Add(process.StandardOutput.ReadLine() ?? "");
        }

        string? ready = process.StandardOutput.ReadLine();
        return ready == "ready" ? new LayerClient(process, names, "") : new LayerClient(process, null, ready ?? "no 'ready' line");
    }

    public double Time(int row, bool forward)
    {
        _process.StandardInput.WriteLine($"{(forward ? "f" : "b")} {row}");
        string? answer = _process.StandardOutput.ReadLine();
        return double.TryParse(answer, NumberStyles.Float, CultureInfo.InvariantCulture, out double seconds)
            ? seconds
            : throw new InvalidOperationException($"the layer server answered '{answer}' to row {row}");
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.StandardInput.WriteLine("q");
            if (!_process.WaitForExit(5000))
            {
                _process.Kill();
            }
        }

        _process.Dispose();
    }
}

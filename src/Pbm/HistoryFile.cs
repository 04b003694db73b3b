namespace CnnCluster.Pbm;

/// <summary>
/// The interactive mode's history across sessions: ~/.pbm_history (or PBM_HISTORY), one line per command,
/// the last <see cref="Kept"/> loaded. A history that cannot be read or written is no reason to fail: it is skipped.
/// </summary>
public sealed class HistoryFile(string? path)
{
    public const int Kept = 500;

    /// <summary>PBM_HISTORY, else ~/.pbm_history; null without a home folder.</summary>
    public static HistoryFile FromEnvironment()
    {
        string? explicitPath = Environment.GetEnvironmentVariable("PBM_HISTORY");
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return new HistoryFile(!string.IsNullOrWhiteSpace(explicitPath) ? explicitPath : string.IsNullOrEmpty(home) ? null : Path.Combine(home, ".pbm_history"));
    }

    public IReadOnlyList<string> Load()
    {
        try
        {
            return path is not null && File.Exists(path) ? File.ReadLines(path).Where(l => l.Length > 0).TakeLast(Kept).ToArray() : [];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    public void Append(string line)
    {
        if (path is null || line.Contains('\n'))
        {
            return;
        }

        try
        {
            File.AppendAllLines(path, [line]);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // a read-only home: the history of this session still works
        }
    }
}

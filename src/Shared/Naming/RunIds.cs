using System.Text.RegularExpressions;

namespace CnnCluster.Shared.Naming;

/// <summary>
/// The one rule for a run's name, checked wherever a name enters (the command line, pbm, the
/// registry before it journals, the journal when it recovers). A run id becomes an actor name
/// ("run-ID"), a persistence id and a directory under --out, so it is 1–64 letters, digits, '.', '_'
/// or '-', starting with a letter or digit: that excludes "." and "..", hidden names and anything an
/// actor path or a file system would read differently. The pattern is anchored with \A…\z because
/// `$` also matches before a final newline.
/// </summary>
public static partial class RunIds
{
    public const string Rule = "1-64 letters, digits, '.', '_' or '-', starting with a letter or digit";

    /// <summary>Why <paramref name="id"/> cannot name a run, or null.</summary>
    public static string? Problem(string? id) =>
        id is not null && Pattern().IsMatch(id) ? null : $"run id '{Printable(id)}' is not valid: it must be {Rule}";

    public static bool IsValid(string? id) => Problem(id) is null;

    /// <summary>A new run's default name: the model's file name (made valid) with the time and a random suffix.</summary>
    public static string Default(string model)
    {
        string stem = Invalid().Replace(Path.GetFileNameWithoutExtension(model), "_").TrimStart('.', '_', '-');
        stem = stem.Length == 0 ? "run" : stem[..Math.Min(stem.Length, 40)];
        return $"{stem}-{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Random.Shared.Next(0x10000):x4}";
    }

    /// <summary>The id as one printable line (control characters escaped), for error messages.</summary>
    public static string Printable(string? id) =>
        id is null ? "(none)" : string.Concat(id.Take(80).Select(c => char.IsControl(c) ? $"\\x{(int)c:x2}" : c.ToString()));

    [GeneratedRegex(@"\A[A-Za-z0-9][A-Za-z0-9._-]{0,63}\z")]
    private static partial Regex Pattern();

    [GeneratedRegex("[^A-Za-z0-9._-]")]
    private static partial Regex Invalid();
}

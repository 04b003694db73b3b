using System.Text;

namespace CnnCluster.Security;

/// <summary>
/// Text from the cluster (a run's model name, a worker's failure, a node's answer) as it may reach a terminal
/// or a log: every control character but tab escaped as \xNN (an escape sequence could clear the screen, retitle
/// the window, or hide a line), and the Unicode controls that reorder what is shown (bidirectional overrides,
/// isolates, marks) as \u{XXXX}. Text without them comes back as it was, the same instance.
/// </summary>
public static class TerminalText
{
    /// <summary>True when <paramref name="text"/> has nothing to escape.</summary>
    public static bool IsPlain(string text) => text.AsSpan().IndexOfAny(Unsafe) < 0;

    public static string Safe(string? text)
    {
        if (text is null)
        {
            return string.Empty;
        }

        int first = text.AsSpan().IndexOfAny(Unsafe);
        if (first < 0)
        {
            return text;
        }

        var safe = new StringBuilder(text.Length + 16);
        safe.Append(text, 0, first);
        foreach (char c in text.AsSpan(first))
        {
            if (c != '\t' && char.IsControl(c))
            {
                safe.Append($"\\x{(int)c:x2}");
            }
            else if (IsReordering(c))
            {
                safe.Append($"\\u{{{(int)c:X4}}}");
            }
            else
            {
                safe.Append(c);
            }
        }

        return safe.ToString();
    }

    private static bool IsReordering(char c) => c is '\u200E' or '\u200F' or '\u061C' or (>= '\u202A' and <= '\u202E') or (>= '\u2066' and <= '\u2069');

    private static readonly System.Buffers.SearchValues<char> Unsafe = System.Buffers.SearchValues.Create(
        [.. Enumerable.Range(0, 32).Where(c => c != '\t').Select(c => (char)c), .. Enumerable.Range(0x7F, 0x21).Select(c => (char)c),
         '\u200E', '\u200F', '\u061C', '\u202A', '\u202B', '\u202C', '\u202D', '\u202E', '\u2066', '\u2067', '\u2068', '\u2069']);
}

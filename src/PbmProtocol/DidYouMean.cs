namespace CnnCluster.PbmProtocol;

/// <summary>
/// The known name closest to a mistyped one, for "did you mean" in an error line: at most
/// <see cref="MaxDistance"/> edits (a swap of two neighbours counts as one, so 'sumbit' is one edit from
/// 'submit'), and fewer edits than the typed word has letters, so 'x' is not "close" to every short name.
/// </summary>
public static class DidYouMean
{
    public const int MaxDistance = 2;

    /// <summary>The closest of <paramref name="known"/> (the first of equals), or null when none is close enough.</summary>
    public static string? Closest(string typed, IEnumerable<string> known)
    {
        string? best = null;
        int bestDistance = int.MaxValue;
        foreach (string name in known)
        {
            int d = Distance(typed, name);
            if (d < bestDistance)
            {
                best = name;
                bestDistance = d;
            }
        }

        return bestDistance <= MaxDistance && bestDistance < typed.Length ? best : null;
    }

    /// <summary>"; did you mean 'x'?" when a name is close, else "; valid: a, b, c".</summary>
    public static string Hint(string typed, IReadOnlyCollection<string> known) =>
        Closest(typed, known) is string close ? $"; did you mean '{close}'?" : $"; valid: {string.Join(", ", known)}";

    /// <summary>Edits (insert, delete, substitute, swap of neighbours) between two words: the optimal string alignment distance.</summary>
    public static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }

        for (int j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }

        for (int i = 1; i <= a.Length; i++)
        {
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }

        return d[a.Length, b.Length];
    }
}

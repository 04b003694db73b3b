using System.Text;

namespace CnnCluster.Pbm;

/// <summary>Splits an interactive line into arguments: whitespace separates, double or single quotes group.</summary>
public static class CommandLine
{
    public static List<string> Split(string line)
    {
        var args = new List<string>();
        var current = new StringBuilder();
        char? quote = null;
        bool any = false;
        foreach (char c in line)
        {
            if (quote is not null)
            {
                if (c == quote)
                {
                    quote = null;
                }
                else
                {
                    current.Append(c);
                }
            }
            else if (c is '"' or '\'')
            {
                quote = c;
                any = true;
            }
            else if (char.IsWhiteSpace(c))
            {
                if (any)
                {
                    args.Add(current.ToString());
                    current.Clear();
                    any = false;
                }
            }
            else
            {
                current.Append(c);
                any = true;
            }
        }

        if (quote is not null)
        {
            throw new FormatException($"unclosed {quote} quote");
        }

        if (any)
        {
            args.Add(current.ToString());
        }

        return args;
    }
}

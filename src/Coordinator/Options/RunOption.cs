using System.Globalization;

namespace CnnCluster.Coordinator.Options;

/// <summary>How an option's value is written.</summary>
public enum OptionKind
{
    /// <summary>A whole number within [Min, Max].</summary>
    Whole,

    /// <summary>A finite number within its bounds (each inclusive or not).</summary>
    Number,

    /// <summary>Present or absent; takes no value.</summary>
    Flag,

    /// <summary>Text, checked by the option's own rule or its choices.</summary>
    Text,
}

/// <summary>
/// One setting of a run: its name, short alias, default, range and help, and the one parser that turns
/// its text into a value or a sentence saying what is wrong. `train` and `pbm train submit` are both built
/// from <see cref="RunOptions.All"/>, so they accept the same values with the same words.
/// </summary>
public sealed record RunOption(string Name, string? Alias, OptionKind Kind, string Help)
{
    /// <summary>The value when the option is not given, as text (null: none).</summary>
    public string? Default { get; init; }

    public double Min { get; init; } = double.MinValue;

    public double Max { get; init; } = double.MaxValue;

    public bool MinExclusive { get; init; }

    public bool MaxExclusive { get; init; }

    /// <summary>The only values a text option takes (null: any that <see cref="Rule"/> accepts).</summary>
    public IReadOnlyList<string>? Choices { get; init; }

    /// <summary>A text option's own check: what is wrong with the value, or null.</summary>
    public Func<string, string?>? Rule { get; init; }

    /// <summary>A valid value other than the default, for the tests that feed every option to both front ends.</summary>
    public required string Example { get; init; }

    public string LongName => "--" + Name;

    /// <summary>The help with its default, as both front ends show it.</summary>
    public string Description => Default is null || Kind == OptionKind.Flag ? Help : $"{Help} (default {Default})";

    /// <summary>What a valid value looks like, in words.</summary>
    public string Expectation => Kind switch
    {
        OptionKind.Whole => Max >= long.MaxValue ? $"a whole number, at least {Show(Min)}" : $"a whole number from {Show(Min)} to {Show(Max)}",
        OptionKind.Number => $"a number in {(MinExclusive ? "(" : "[")}{Show(Min)}, {Show(Max)}{(MaxExclusive ? ")" : "]")}",
        OptionKind.Flag => "no value",
        _ => Choices is { } c ? "one of " + string.Join(", ", c) : Help,
    };

    /// <summary>What is wrong with <paramref name="text"/> as this option's value, in one line, or null when it is valid.</summary>
    public string? Problem(string text)
    {
        string shown = $"{LongName} '{OneLine(text)}'";
        switch (Kind)
        {
            case OptionKind.Whole:
                if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long whole))
                {
                    return $"{shown} is not a whole number: give {Expectation}";
                }

                return whole < Min || whole > Max ? $"{shown} is out of range: give {Expectation}" : null;
            case OptionKind.Number:
                if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double number) || !double.IsFinite(number))
                {
                    return $"{shown} is not a number: give {Expectation}";
                }

                bool below = MinExclusive ? number <= Min : number < Min;
                bool above = MaxExclusive ? number >= Max : number > Max;
                return below || above ? $"{shown} is out of range: give {Expectation}" : null;
            case OptionKind.Flag:
                return text is "true" or "false" ? null : $"{LongName} takes no value";
            default:
                if (Choices is { } choices && !choices.Contains(text, StringComparer.Ordinal))
                {
                    return $"{shown} is not one of {string.Join(", ", choices)}";
                }

                return Rule?.Invoke(text) is string problem ? $"{shown}: {OneLine(problem)}" : null;
        }
    }

    private static string Show(double v) => Math.Abs(v) >= 1e4 && v == Math.Floor(v) ? v.ToString("N0", CultureInfo.InvariantCulture) : v.ToString(CultureInfo.InvariantCulture);

    // a newline in a value would break the error's one line
    private static string OneLine(string text) => string.Concat(text.Select(c => char.IsControl(c) ? $"\\x{(int)c:x2}" : c.ToString()));
}

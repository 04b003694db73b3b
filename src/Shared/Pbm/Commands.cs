using System.Globalization;
using CnnCluster.PbmProtocol;

namespace CnnCluster.Shared.Pbm;

/// <summary>A command that cannot run as given (bad switch, missing value, out of range): one line for the user.</summary>
public sealed class CommandException(string message) : Exception(message);

/// <summary>Where a command writes: output lines, and files the client saves.</summary>
public interface ICommandOutput
{
    void Line(string text);

    void File(string path, byte[] bytes);
}

/// <summary>A palette a node serves: its description and how it runs a parsed command.</summary>
public interface IPalette
{
    PaletteInfo Info { get; }

    /// <summary>Runs the command; returns the exit code (0 success); throws <see cref="CommandException"/> for a user error.</summary>
    Task<int> ExecuteAsync(ParsedCommand command, ICommandOutput output, CancellationToken cancellation);
}

/// <summary>Builders for palette descriptions.</summary>
public static class Describe
{
    public static SwitchInfo Switch(string longName, string? shortName, string description, bool mandatory = false) => new(longName, shortName, description, mandatory, false);

    public static SwitchInfo Flag(string longName, string? shortName, string description) => new(longName, shortName, description, false, true);

    public static CommandInfo Command(string name, string description, params SwitchInfo[] switches) => new(name, description, switches);
}

/// <summary>A command's switches, parsed against its <see cref="CommandInfo"/>: values by long name.</summary>
public sealed class ParsedCommand
{
    private readonly Dictionary<string, string> _values;

    private ParsedCommand(CommandInfo info, Dictionary<string, string> values)
    {
        Info = info;
        _values = values;
    }

    public CommandInfo Info { get; }

    /// <summary>Parses -s VALUE / --long VALUE / --long=VALUE / flags (--flag, --flag=false); refuses unknown switches, missing mandatory ones and stray words.</summary>
    public static ParsedCommand Parse(CommandInfo info, IReadOnlyList<string> args)
    {
        var values = new Dictionary<string, string>();
        for (int i = 0; i < args.Count; i++)
        {
            string a = args[i];
            string? inline = null;
            if (a.StartsWith("--", StringComparison.Ordinal) && a.Contains('='))
            {
                inline = a[(a.IndexOf('=') + 1)..];
                a = a[..a.IndexOf('=')];
            }

            SwitchInfo? sw = info.Switches.FirstOrDefault(s => a == "--" + s.Long || (s.Short is not null && a == "-" + s.Short));
            if (sw is null)
            {
                throw new CommandException(a.StartsWith('-')
                    ? $"unknown switch '{a}' for '{info.Name}'{SwitchHint(info, a)}"
                    : $"unexpected argument '{a}' for '{info.Name}'; valid: {Valid(info)}");
            }

            if (sw.IsFlag)
            {
                // --flag=false turns off what a default (a model's recipe) turns on
                values[sw.Long] = inline switch
                {
                    null or "true" => "true",
                    "false" => "false",
                    _ => throw new CommandException($"switch --{sw.Long} is a flag: give it alone, or as --{sw.Long}=true or --{sw.Long}=false"),
                };
                continue;
            }

            string? value = inline ?? (i + 1 < args.Count ? args[++i] : null);
            if (string.IsNullOrEmpty(value))
            {
                throw new CommandException($"switch --{sw.Long} needs a value ({sw.Description})");
            }

            values[sw.Long] = value;
        }

        foreach (SwitchInfo sw in info.Switches.Where(s => s.Mandatory && !values.ContainsKey(s.Long)))
        {
            throw new CommandException($"missing mandatory switch {Name(sw)} ({sw.Description})");
        }

        return new ParsedCommand(info, values);
    }

    public bool Has(string name) => _values.ContainsKey(name);

    public string? String(string name) => _values.GetValueOrDefault(name);

    public string Required(string name) => String(name) ?? throw new CommandException($"missing mandatory switch --{name}");

    public int? Int(string name, int min, int max)
    {
        if (String(name) is not string text)
        {
            return null;
        }

        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) || v < min || v > max)
        {
            throw new CommandException($"--{name} '{text}' is out of range: a whole number from {min} to {max}");
        }

        return v;
    }

    public static string Valid(CommandInfo info) => info.Switches.Length == 0 ? "(no switches)" : string.Join(", ", info.Switches.Select(Name));

    /// <summary>"; did you mean '--run'?" for a switch close to one of the command's, else the valid ones.</summary>
    private static string SwitchHint(CommandInfo info, string typed) =>
        DidYouMean.Closest(typed, info.Switches.SelectMany(s => s.Short is null ? ["--" + s.Long] : new[] { "--" + s.Long, "-" + s.Short })) is string close
            ? $"; did you mean '{close}'?"
            : $"; valid: {Valid(info)}";

    private static string Name(SwitchInfo s) => s.Short is null ? $"--{s.Long}" : $"-{s.Short}/--{s.Long}";
}

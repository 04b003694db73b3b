using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using CnnCluster.Coordinator.Options;

namespace CnnCluster.Coordinator.Cli;

/// <summary>
/// System.CommandLine options made from <see cref="RunOption"/>s: each value is read as text and checked by the
/// option's own parser, so every command's errors are in words (`--threads 'x' is not a whole number: give …`),
/// never a .NET type name, and say the same as pbm's.
/// </summary>
internal static class CommandLineOptions
{
    public static Option Of(RunOption o)
    {
        string[] aliases = o.Alias is null ? [] : ["-" + o.Alias];
        if (o.Kind == OptionKind.Flag)
        {
            return new Option<bool>(o.LongName, aliases) { Description = o.Description };
        }

        var option = new Option<string?>(o.LongName, aliases) { Description = o.Description, HelpName = o.Kind == OptionKind.Text ? "text" : "n" };
        option.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<string?>() is string text && o.Problem(text) is string problem)
            {
                result.AddError(problem);
            }
        });
        return option;
    }

    /// <summary>
    /// The text given for <paramref name="o"/>, or null when absent. A flag given reads "true", or "false" when
    /// written `--augment false` (which turns off a model recipe's flag).
    /// </summary>
    public static string? Given(ParseResult p, RunOption o) =>
        o.Kind == OptionKind.Flag
            ? (p.GetResult(o.LongName) is OptionResult { Implicit: false } ? (p.GetValue<bool>(o.LongName) ? "true" : "false") : null)
            : p.GetValue<string?>(o.LongName);

    /// <summary>The whole number given for <paramref name="o"/> (checked at parse time), or null when absent.</summary>
    public static int? Whole(ParseResult p, RunOption o) => Given(p, o) is string t ? int.Parse(t, CultureInfo.InvariantCulture) : null;
}

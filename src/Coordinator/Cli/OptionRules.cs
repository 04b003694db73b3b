using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace CnnCluster.Coordinator.Cli;

/// <summary>Range rules for options, so that a bad value is refused at parse time with its name and value.</summary>
internal static class OptionRules
{
    public static Option<T> Require<T>(this Option<T> option, Func<T, bool> valid, string expectation)
    {
        option.Validators.Add(result =>
        {
            T? value;
            try
            {
                value = result.GetValueOrDefault<T>();
            }
            catch (InvalidOperationException)
            {
                return; // not parseable: the parser reports that error itself
            }

            if (value is not null && !valid(value))
            {
                // the value is printed on one line: control characters (a newline in a run id) escaped
                string text = string.Concat((Convert.ToString(value, CultureInfo.InvariantCulture) ?? string.Empty).Select(c => char.IsControl(c) ? $"\\x{(int)c:x2}" : c.ToString()));
                result.AddError($"{option.Name} {text} is out of range: {expectation}");
            }
        });
        return option;
    }
}

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
                result.AddError($"{option.Name} {Convert.ToString(value, CultureInfo.InvariantCulture)} is out of range: {expectation}");
            }
        });
        return option;
    }
}

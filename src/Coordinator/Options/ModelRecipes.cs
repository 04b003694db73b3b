using CnnCluster.Engine.Models;

namespace CnnCluster.Coordinator.Options;

/// <summary>
/// A preset's own recipe: the run options it trains with when the command line leaves them out, so that
/// `train --model convnet` alone is the measured run (README). Between what is given and the table's
/// defaults: given, else the model's recipe, else <see cref="RunOption.Default"/>. Both front ends read it
/// through <see cref="RunSettings.From"/>.
/// </summary>
public static class ModelRecipes
{
    private static readonly Dictionary<string, IReadOnlyDictionary<RunOption, string>> ByModel = new(StringComparer.OrdinalIgnoreCase)
    {
        [Presets.ConvNet.Name] = new Dictionary<RunOption, string>
        {
            [RunOptions.Epochs] = "24",
            [RunOptions.Augment] = "true",
        },
    };

    /// <summary>The recipe's value of <paramref name="option"/> for <paramref name="model"/>, or null when it has none.</summary>
    public static string? Default(string model, RunOption option) =>
        ByModel.TryGetValue(model, out IReadOnlyDictionary<RunOption, string>? recipe) && recipe.TryGetValue(option, out string? value) ? value : null;

    /// <summary>The recipe in words, for help ("convnet: --epochs 25 --augment").</summary>
    public static IEnumerable<string> Describe() =>
        ByModel.Select(m => $"{m.Key}: " + string.Join(" ", m.Value.Select(o => o.Key.Kind == OptionKind.Flag ? o.Key.LongName : $"{o.Key.LongName} {o.Value}")));
}

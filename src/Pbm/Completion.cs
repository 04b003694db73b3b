using CnnCluster.PbmProtocol;

namespace CnnCluster.Pbm;

/// <summary>
/// What Tab offers in the interactive mode, from the node's welcome: a palette (or `help`, `exit`) first,
/// then a command of that palette, then the command's switches not given yet (`--long`). No candidates
/// where a switch's value goes: pbm cannot know the values.
/// </summary>
public sealed class Completion(IReadOnlyList<PaletteInfo> palettes)
{
    /// <summary>The words pbm itself answers in the interactive mode, not the node.</summary>
    public static readonly string[] BuiltIns = ["help", "exit"];

    /// <summary>Candidates for <paramref name="word"/> (what is typed of the word under the cursor) after the complete words <paramref name="before"/>.</summary>
    public IReadOnlyList<string> Candidates(IReadOnlyList<string> before, string word)
    {
        IEnumerable<string> names = before switch
        {
            [] => palettes.Select(p => p.Name).Concat(BuiltIns),
            ["help"] => palettes.Select(p => p.Name),
            ["help", var palette] => Palette(palette)?.Commands.Select(c => c.Name) ?? [],
            [var palette] => Palette(palette)?.Commands.Select(c => c.Name) ?? [],
            [var palette, var command, ..] when palette != "help" => Switches(palette, command, before.Skip(2).ToArray()),
            _ => [],
        };
        return names.Where(n => n.StartsWith(word, StringComparison.Ordinal)).ToArray();
    }

    private PaletteInfo? Palette(string name) => palettes.FirstOrDefault(p => p.Name == name);

    private IEnumerable<string> Switches(string palette, string command, IReadOnlyList<string> given)
    {
        CommandInfo? info = Palette(palette)?.Commands.FirstOrDefault(c => c.Name == command);
        if (info is null || (given.Count > 0 && !given[^1].Contains('=') && Find(info, given[^1]) is { IsFlag: false }))
        {
            return []; // an unknown command, or the word is the value of the switch before it
        }

        return info.Switches.Where(s => !given.Any(g => Find(info, g) == s)).Select(s => "--" + s.Long);
    }

    /// <summary>The switch a word names (-s, --long or --long=value), or null.</summary>
    private static SwitchInfo? Find(CommandInfo info, string word)
    {
        string name = word.Split('=', 2)[0];
        return info.Switches.FirstOrDefault(s => name == "--" + s.Long || (s.Short is not null && name == "-" + s.Short));
    }
}

using CnnCluster.Pbm;
using CnnCluster.PbmProtocol;
using Xunit;
using static CnnCluster.Shared.Pbm.Describe;

namespace CnnCluster.Shared.Tests;

/// <summary>What Tab offers in pbm's interactive mode: palettes, then commands, then switches, from the node's welcome.</summary>
public sealed class CompletionSpecs
{
    private static readonly Completion Tab = new(
    [
        new PaletteInfo("cluster", "c", [Command("show", "s"), Command("status", "s"), Command("down", "d", Switch("address", "a", "a", mandatory: true), Flag("force", null, "f"))]),
        new PaletteInfo("train", "t",
        [
            Command("submit", "s", Switch("model", "m", "m", mandatory: true), Switch("epochs", "e", "e"), Switch("steps", null, "s"), Flag("dry", null, "d")),
            Command("status", "s", Switch("run", "r", "r", mandatory: true)),
            Command("stop", "s", Switch("run", "r", "r", mandatory: true)),
        ]),
        new PaletteInfo("snapshot", "s", [Command("list", "l", Switch("run", "r", "r", mandatory: true))]),
    ]);

    [Theory]
    [InlineData("", "tr", "train")]
    [InlineData("", "s", "snapshot")]
    [InlineData("", "", "cluster train snapshot help exit")]
    [InlineData("", "ex", "exit")]
    [InlineData("train", "su", "submit")]
    [InlineData("train", "st", "status stop")]
    [InlineData("train", "", "submit status stop")]
    [InlineData("cluster", "s", "show status")]
    [InlineData("help", "c", "cluster")]
    [InlineData("help train", "s", "submit status stop")]
    [InlineData("train submit", "--e", "--epochs")]
    [InlineData("train submit", "--", "--model --epochs --steps --dry")]
    [InlineData("train submit", "", "--model --epochs --steps --dry")]
    [InlineData("train submit -m lenet5", "", "--epochs --steps --dry")]         // a switch given is not offered again
    [InlineData("train submit --model=lenet5 --dry", "", "--epochs --steps")]
    [InlineData("train submit -m", "", "")]                                      // a value goes there
    [InlineData("train submit --dry", "--s", "--steps")]                         // a flag takes no value
    [InlineData("cluster down -a x --force", "", "")]
    [InlineData("nosuch", "", "")]
    [InlineData("train nosuch", "--", "")]
    public void CandidatesFollowTheWordsBeforeTheCursor(string before, string word, string expected)
    {
        IReadOnlyList<string> got = Tab.Candidates(before.Split(' ', StringSplitOptions.RemoveEmptyEntries), word);
        Assert.Equal(expected.Split(' ', StringSplitOptions.RemoveEmptyEntries), got);
    }

    [Fact]
    public void NothingIsOfferedWithoutPalettes() => Assert.Equal(["help", "exit"], new Completion([]).Candidates([], string.Empty));
}

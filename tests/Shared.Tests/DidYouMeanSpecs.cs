using CnnCluster.PbmProtocol;
using CnnCluster.Shared.Pbm;
using Xunit;
using static CnnCluster.Shared.Pbm.Describe;

namespace CnnCluster.Shared.Tests;

/// <summary>The closest known name in an error line, and only when it is close.</summary>
public sealed class DidYouMeanSpecs
{
    private static readonly string[] Commands = ["submit", "list", "status", "tail", "stop", "export"];

    [Theory]
    [InlineData("sumbit", "submit")] // two neighbours swapped: one edit
    [InlineData("submt", "submit")]
    [InlineData("lst", "list")]
    [InlineData("stats", "status")]
    [InlineData("exprot", "export")]
    [InlineData("tial", "tail")]
    public void ACloseNameIsFound(string typed, string expected) => Assert.Equal(expected, DidYouMean.Closest(typed, Commands));

    [Theory]
    [InlineData("fly")]
    [InlineData("nosuch")]
    [InlineData("x")]   // one letter is within two edits of many short names: no guess
    [InlineData("ab")]
    public void AFarNameHasNoSuggestion(string typed) => Assert.Null(DidYouMean.Closest(typed, Commands));

    [Theory]
    [InlineData("submit", "submit", 0)]
    [InlineData("sumbit", "submit", 1)]
    [InlineData("", "abc", 3)]
    [InlineData("kitten", "sitting", 3)]
    [InlineData("ca", "abc", 3)] // optimal string alignment: a swapped pair is not edited again
    public void DistanceCountsEdits(string a, string b, int expected)
    {
        Assert.Equal(expected, DidYouMean.Distance(a, b));
        Assert.Equal(expected, DidYouMean.Distance(b, a));
    }

    [Fact]
    public void TheHintIsTheSuggestionOrTheValidNames()
    {
        Assert.Equal("; did you mean 'submit'?", DidYouMean.Hint("sumbit", Commands));
        Assert.Equal("; valid: submit, list, status, tail, stop, export", DidYouMean.Hint("fly", Commands));
    }

    [Theory]
    [InlineData("--rn x", "unknown switch '--rn' for 'status'; did you mean '--run'?")]
    [InlineData("-rr x", "unknown switch '-rr' for 'status'; did you mean '-r'?")]
    [InlineData("--color x", "unknown switch '--color' for 'status'; valid: -r/--run")]
    public void AnUnknownSwitchNamesTheClosestOne(string args, string expected)
    {
        CommandInfo status = Command("status", "x", Switch("run", "r", "the run", mandatory: true));
        Assert.Equal(expected, Assert.Throws<CommandException>(() => ParsedCommand.Parse(status, args.Split(' '))).Message);
    }
}

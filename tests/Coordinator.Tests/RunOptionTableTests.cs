using System.CommandLine;
using CnnCluster.Coordinator.Cli;
using CnnCluster.Coordinator.Options;
using CnnCluster.Coordinator.Pbm;
using CnnCluster.PbmProtocol;
using CnnCluster.Shared.Pbm;
using CnnCluster.Shared.Protocol;
using Xunit;

namespace CnnCluster.Coordinator.Tests;

/// <summary>
/// `train` and `pbm train submit` are built from one table (RunOptions): every option has the same name,
/// alias and help in both, every example value gives the same settings, and every bad value the same words.
/// </summary>
public sealed class RunOptionTableTests
{
    public static TheoryData<string> Names() => new(RunOptions.All.Select(o => o.Name));

    private static RunOption Option(string name) => RunOptions.All.Single(o => o.Name == name);

    private static string[] Args(RunOption o, string value) => o.Kind == OptionKind.Flag ? [o.LongName] : [o.LongName, value];

    [Theory]
    [MemberData(nameof(Names))]
    public void BothFrontEndsListTheOptionWithTheSameNameAliasAndHelp(string name)
    {
        RunOption o = Option(name);
        Command train = TrainCommand.Create();
        System.CommandLine.Option cli = Assert.Single(train.Options, x => x.Name == o.LongName);
        Assert.Equal(o.Alias is null ? [] : ["-" + o.Alias], cli.Aliases.ToArray());
        Assert.Equal(o.Description, cli.Description);

        SwitchInfo pbm = Assert.Single(TrainPalette.Submit.Switches, s => s.Long == o.Name);
        Assert.Equal(o.Alias, pbm.Short);
        Assert.Equal(o.Description, pbm.Description);
        Assert.Equal(o.Kind == OptionKind.Flag, pbm.IsFlag);
    }

    [Fact]
    public void SubmitHasNoSwitchThatTrainLacks()
    {
        Assert.Equal(RunOptions.All.Select(o => o.Name).Order(), TrainPalette.Submit.Switches.Select(s => s.Long).Order());
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void AnExampleValueGivesTheSameSettingsThroughBoth(string name)
    {
        RunOption o = Option(name);
        string[] args = Args(o, o.Example);
        // --verify needs the star; give it to both alike
        string[] extra = o == RunOptions.Verify ? ["--reduce", "star"] : [];
        ParseResult parse = TrainCommand.Create().Parse([.. args, .. extra]);
        Assert.Empty(parse.Errors);
        RunSettings fromTrain = TrainCommand.Settings(parse);
        RunSettings fromPbm = TrainPalette.Settings(ParsedCommand.Parse(TrainPalette.Submit, [.. args, .. extra]));

        Assert.Equal(fromTrain, fromPbm);
        Assert.NotEqual(RunSettings.From(_ => null), fromTrain); // the example is not the default: the value went through
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void ABadValueIsRefusedInTheSameWordsByBoth(string name)
    {
        RunOption o = Option(name);
        if (o.Kind == OptionKind.Flag || (o.Kind == OptionKind.Text && o.Rule is null && o.Choices is null))
        {
            return; // a flag takes no value; free text (a model name) is checked when it is resolved
        }

        string bad = o.Kind == OptionKind.Text ? "not valid/..\n" : "abc";
        ParseResult parse = TrainCommand.Create().Parse(Args(o, bad));
        string trainError = Assert.Single(parse.Errors).Message;
        CommandException pbmError = Assert.Throws<CommandException>(() => TrainPalette.Settings(ParsedCommand.Parse(TrainPalette.Submit, Args(o, bad))));

        Assert.Equal(trainError, pbmError.Message);
        Assert.StartsWith($"{o.LongName} '", trainError);
        Assert.DoesNotContain("System.", trainError); // words, not a .NET type name
        Assert.DoesNotContain("\n", trainError);
    }

    [Fact]
    public void NumbersOutOfRangeNameTheRange()
    {
        CommandException e = Assert.Throws<CommandException>(() => TrainPalette.Settings(ParsedCommand.Parse(TrainPalette.Submit, ["-e", "0"])));
        Assert.Equal("--epochs '0' is out of range: give a whole number from 1 to 100,000", e.Message);
        Assert.Equal("--epochs 'abc' is not a whole number: give a whole number from 1 to 100,000", Assert.Single(TrainCommand.Create().Parse(["--epochs", "abc"]).Errors).Message);
    }

    [Fact]
    public void TheDefaultsAreTheRunConfigsOfBoth()
    {
        RunSettings defaults = RunSettings.From(_ => null);
        Assert.Equal(defaults, TrainCommand.Settings(TrainCommand.Create().Parse([])));
        Assert.Equal(defaults, TrainPalette.Settings(ParsedCommand.Parse(TrainPalette.Submit, [])));
        Assert.Equal((3, 64, 0.03, "cosine", 100, 8, RunConfig.DefaultSnapshotEvery), (defaults.Epochs, defaults.BatchSize, defaults.LearningRate, defaults.Schedule, defaults.WarmupSteps, defaults.ShardSize, defaults.SnapshotEvery));
    }

    [Fact]
    public void APresetsRecipeFillsWhatIsNotGivenThroughBoth()
    {
        // convnet alone is its measured run: the recipe's epochs and augmentation, the table's rest
        RunSettings train = TrainCommand.Settings(TrainCommand.Create().Parse(["--model", "convnet"]));
        RunSettings pbm = TrainPalette.Settings(ParsedCommand.Parse(TrainPalette.Submit, ["-m", "convnet"]));
        Assert.Equal(train, pbm);
        Assert.Equal(RunSettings.From(_ => null) with { Model = "convnet", Epochs = 24, Augment = true }, train);

        // what is given wins, a recipe's flag turned off too
        RunSettings told = TrainCommand.Settings(TrainCommand.Create().Parse(["--model", "convnet", "--epochs", "2", "--augment", "false"]));
        Assert.Equal((2, false), (told.Epochs, told.Augment));
        Assert.Equal(told, TrainPalette.Settings(ParsedCommand.Parse(TrainPalette.Submit, ["-m", "convnet", "-e", "2", "--augment=false"])));

        // a flag given as false reads false in both (it turns off a recipe's flag), absent reads as not given
        Assert.Equal("false", CommandLineOptions.Given(TrainCommand.Create().Parse(["--augment", "false"]), RunOptions.Augment));
        Assert.Null(CommandLineOptions.Given(TrainCommand.Create().Parse([]), RunOptions.Augment));
        Assert.Equal("false", ParsedCommand.Parse(TrainPalette.Submit, ["--augment=false"]).String("augment"));
        Assert.Equal("true", ParsedCommand.Parse(TrainPalette.Submit, ["--augment"]).String("augment"));
        Assert.Contains("--augment=false", Assert.Throws<CommandException>(() => ParsedCommand.Parse(TrainPalette.Submit, ["--augment=maybe"])).Message, StringComparison.Ordinal);

        // the help names the recipe as it is
        foreach (string part in ModelRecipes.Describe().Single(d => d.StartsWith("convnet: ", StringComparison.Ordinal))["convnet: ".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            Assert.Contains(part, RunOptions.Model.Help, StringComparison.Ordinal);
        }
    }
}

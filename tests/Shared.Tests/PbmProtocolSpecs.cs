using CnnCluster.PbmProtocol;
using CnnCluster.Shared.Pbm;
using Xunit;
using static CnnCluster.Shared.Pbm.Describe;

namespace CnnCluster.Shared.Tests;

/// <summary>Frames and switches of the pbm protocol, without a network.</summary>
public sealed class PbmProtocolSpecs
{
    private static readonly CommandInfo Submit = Command("submit", "x", Switch("model", "m", "model", mandatory: true), Switch("epochs", "e", "epochs"), Flag("dry", null, "dry run"));

    [Fact]
    public void FramesSplitAnywhereAreReassembled()
    {
        byte[] stream = [.. Framing.Encode(new Hello("v", "t")), .. Framing.Encode(new RunCommand(1, "train", "list", [])), .. Framing.Encode(new Output(1, "line"))];
        for (int cut = 1; cut < stream.Length; cut++)
        {
            var buffer = new byte[8];
            int length = 0;
            var got = new List<IPbmMessage>();
            foreach (byte[] piece in new[] { stream[..cut], stream[cut..] })
            {
                Framing.Append(ref buffer, ref length, piece);
                got.AddRange(Framing.Decode(ref buffer, ref length));
            }

            Assert.Equal(3, got.Count);
            Assert.Equal(new Output(1, "line"), got[2]);
            Assert.Equal(0, length);
        }
    }

    [Theory]
    [InlineData(new byte[] { 0x7f, 0xff, 0xff, 0xff })]
    [InlineData(new byte[] { 0, 0, 0, 0 })]
    [InlineData(new byte[] { 0xff, 0xff, 0xff, 0xff })]
    [InlineData(new byte[] { 0, 0, 0, 2, 0xc1, 0xc1 })]
    public void BadFramesAreProtocolErrors(byte[] bytes)
    {
        var buffer = new byte[16];
        int length = 0;
        Framing.Append(ref buffer, ref length, bytes);
        Assert.Throws<FramingException>(() => Framing.Decode(ref buffer, ref length));
    }

    [Fact]
    public void SwitchesParseInEveryForm()
    {
        ParsedCommand c = ParsedCommand.Parse(Submit, ["-m", "lenet5", "--epochs=4", "--dry"]);
        Assert.Equal("lenet5", c.String("model"));
        Assert.Equal(4, c.Int("epochs", 1, 10));
        Assert.True(c.Has("dry"));
    }

    [Theory]
    [InlineData("--model", "switch --model needs a value")]
    [InlineData("-e 3", "missing mandatory switch -m/--model")]
    [InlineData("-m x --color red", "unknown switch '--color' for 'submit'; valid: -m/--model, -e/--epochs, --dry")]
    [InlineData("-m x stray", "unexpected argument 'stray'")]
    public void BadSwitchesAreNamed(string args, string expected)
    {
        var e = Assert.Throws<CommandException>(() => ParsedCommand.Parse(Submit, args.Split(' ')));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void OutOfRangeValuesAreNamed()
    {
        ParsedCommand c = ParsedCommand.Parse(Submit, ["-m", "x", "-e", "0"]);
        Assert.Contains("--epochs '0' is out of range", Assert.Throws<CommandException>(() => c.Int("epochs", 1, 10)).Message);
    }
}

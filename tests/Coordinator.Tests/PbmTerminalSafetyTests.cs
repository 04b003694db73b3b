using System.Net;
using System.Net.Sockets;
using CnnCluster.PbmProtocol;
using Xunit;

namespace CnnCluster.Coordinator.Tests;

/// <summary>
/// What a node says reaches the operator's terminal as words, never as escape sequences: the real pbm
/// process against a node (a real socket on 127.0.0.1) whose output and error carry a screen clear, a window
/// title, a bell, a C1 control and a right-to-left override prints each of them escaped; and a real node
/// echoing a model name with an escape sequence is shown escaped too.
/// </summary>
public sealed class PbmTerminalSafetyTests
{
    private const string Hostile = "run-\u001b[2J\u001b]0;owned\u0007 \u009b31m \u202Eevil\tok";
    private const string Shown = "run-\\x1b[2J\\x1b]0;owned\\x07 \\x9b31m \\u{202E}evil\tok";

    [Fact]
    public async Task ANodesOutputAndErrorAreShownEscaped()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        Task node = Task.Run(() =>
        {
            using TcpClient client = listener.AcceptTcpClient();
            NetworkStream stream = client.GetStream();
            stream.ReadTimeout = 30_000;
            var reader = new FrameReader(stream);
            Assert.IsType<Hello>(reader.Next());
            var list = new CommandInfo("list", "every run", []);
            stream.Write(Framing.Encode(new Welcome("hostile-node", [new PaletteInfo("train", "runs", [list])])));
            var command = Assert.IsType<RunCommand>(reader.Next());
            stream.Write(Framing.Encode(new Output(command.Id, Hostile)));
            stream.Write(Framing.Encode(new CommandResult(command.Id, 1, "failed: " + Hostile)));
            Thread.Sleep(500);
        });

        (int code, string stdout, string stderr) = ChildProcess.Run("pbm.dll", [$"127.0.0.1:{port}", "train", "list"]);
        await node;
        Assert.Equal(1, code);
        Assert.Contains(Shown, stdout);
        Assert.Contains("error: failed: " + Shown, stderr);
        Assert.DoesNotContain(stdout + stderr, c => c is '\u001b' or '\u0007' or '\u009b' or '\u202E');
    }

    [Fact]
    public void TextWithoutControlsIsUnchanged()
    {
        const string plain = "run r1 (lenet5): step 3/100, Ünïcode, tab\tkept";
        Assert.Same(plain, CnnCluster.Security.TerminalText.Safe(plain));
        Assert.Equal(Shown, CnnCluster.Security.TerminalText.Safe(Hostile));
        Assert.Equal("a\\x0d\\x0ab", CnnCluster.Security.TerminalText.Safe("a\r\nb"));
    }
}

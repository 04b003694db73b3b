using System.Diagnostics;
using Xunit;

namespace CnnCluster.Coordinator.Tests;

/// <summary>pbm's interactive mode on a real terminal (tmux): completion, Ctrl-C that cancels a command and keeps the session, history, Ctrl-D.</summary>
public sealed class PbmInteractiveTests(ServeNode node) : IClassFixture<ServeNode>
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    [Fact]
    public void TabCompletesCtrlCCancelsTheTailAndTheSessionGoesOnUntilCtrlD()
    {
        var clock = Stopwatch.StartNew();
        string home = Directory.CreateTempSubdirectory("pbm-home-").FullName;
        string pbm = Path.Combine(AppContext.BaseDirectory, "pbm.dll");
        try
        {
            using var tmux = new TmuxSession($"exec env HOME={home} PBM_TOKEN={ServeNode.Token} dotnet {pbm} {node.Endpoint}");
            tmux.WaitFor(@"pbm>$", Wait);

            // palette, then command, each from two letters
            tmux.SendKeys("tr", "Tab");
            tmux.WaitFor(@"pbm> train$", Wait);
            tmux.SendKeys(" su", "Tab");
            tmux.WaitFor(@"pbm> train submit$", Wait);

            // a run long enough to tail; the tail is then cancelled with Ctrl-C
            tmux.SendKeys(" -m lenet5 --limit 512 --epochs 1000 --steps 100000 --run-id tmux-tail", "Enter");
            tmux.WaitFor(@"(?m)^tmux-tail\n.*pbm>$", Wait);
            tmux.SendKeys("train tail -r tmux-tail", "Enter");
            tmux.WaitFor(@"(?s)train tail -r tmux-tail\n.*step [0-9]+/", Wait);
            tmux.SendKeys("C-c");
            string cancelled = tmux.WaitFor(@"\^C \(cancelled\)\n.*pbm>$", Wait);
            Assert.DoesNotContain("error:", cancelled);

            // the same session answers the next command, and the run itself goes on
            tmux.SendKeys("train status -r tmux-tail", "Enter");
            tmux.WaitFor(@"state: running\n(.*\n)*.*pbm>$", Wait);
            tmux.SendKeys("cluster show", "Enter");
            tmux.WaitFor(@"Count: 1 nodes\n.*pbm>$", Wait);
            tmux.SendKeys("train stop -r tmux-tail", "Enter");
            tmux.WaitFor(@"run tmux-tail \w+ at step [0-9]+\n.*pbm>$", Wait); // the prompt back: keys typed before it would race the command's end

            // Up recalls the last command; Ctrl-C drops that line for a new prompt, as in a shell
            tmux.SendKeys("Up");
            tmux.WaitFor(@"pbm> train stop -r tmux-tail$", Wait);
            tmux.SendKeys("C-c");
            tmux.WaitFor(@"pbm> train stop -r tmux-tail\^C\n.*pbm>$", Wait);
            Assert.True(tmux.Alive);

            // and at an empty prompt, too
            tmux.SendKeys("C-c");
            tmux.WaitFor(@"tmux-tail\^C\n.*pbm> \^C\n.*pbm>$", Wait);

            // Ctrl-D on an empty line ends the session
            tmux.SendKeys("C-d");
            var gone = Stopwatch.StartNew();
            while (tmux.Alive && gone.Elapsed < Wait)
            {
                Thread.Sleep(50);
            }

            Assert.False(tmux.Alive, "pbm still runs after Ctrl-D");
            Assert.Contains("cluster show", File.ReadAllLines(Path.Combine(home, ".pbm_history")));
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(40), $"took {clock.Elapsed}");
        }
        finally
        {
            Directory.Delete(home, recursive: true);
        }
    }
}

using System.Diagnostics;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using CnnCluster.Engine.Data;
using CnnCluster.PbmProtocol;
using Xunit;

namespace CnnCluster.Coordinator.Tests;

/// <summary>A `serve` node with an in-process worker, driven by the real `pbm` executable.</summary>
public sealed class ServeNode : IDisposable
{
    public ServeNode()
        : this(workers: 1)
    {
    }

    /// <summary>A serve node with <paramref name="workers"/> in-process workers (0: worker processes join it at <see cref="ClusterPort"/>).</summary>
    internal ServeNode(int workers)
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("serve-").FullName;

        // the coordinator's models folder: a file that is not JSON, and links that lead out of it
        Models = System.IO.Directory.CreateDirectory(Path.Combine(Directory, "models")).FullName;
        File.WriteAllText(Path.Combine(Models, "bad.json"), "{ not json");
        File.CreateSymbolicLink(Path.Combine(Models, "escape.json"), "/etc/passwd");
        System.IO.Directory.CreateSymbolicLink(Path.Combine(Models, "etc"), "/etc");

        // a named pipe inside the folder: opening it would block the command until someone writes
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", Path.Combine(Models, "pipe.json")))
        {
            mkfifo.WaitForExit();
        }
        ClusterPort = TrainProcesses.FreePort();
        PbmPort = TrainProcesses.FreePort();
        HttpPort = TrainProcesses.FreePort();
        Process = ChildProcess.Serve(workers, PbmPort, new Dictionary<string, string>
        {
            ["HTTP_PORT"] = HttpPort.ToString(),
            ["CNN_LOG_LEVEL"] = "Information",
            ["CLUSTER_PORT"] = ClusterPort.ToString(),
            ["PBM_TOKEN"] = Token,
            ["MODELS_DIR"] = Models,
            ["PERSISTENCE_PROVIDER"] = "SQLite.MS",
            ["PERSISTENCE_CONNECTION"] = $"Data Source={Path.Combine(Directory, "runs.db")}",
        });
    }

    public const string Token = "s3cret-s3cret-s3cret";

    public string Directory { get; }

    public string Models { get; }

    public int ClusterPort { get; }

    public int PbmPort { get; }

    /// <summary>Its HTTP endpoint (health, /metrics, the dashboard) on 127.0.0.1.</summary>
    public int HttpPort { get; }

    public ChildProcess Process { get; }

    public string Endpoint => $"127.0.0.1:{PbmPort}";

    public (int Code, string Stdout, string Stderr) Pbm(params string[] args) => PbmWithToken(Token, args);

    public (int Code, string Stdout, string Stderr) PbmWithToken(string? token, params string[] args)
    {
        var env = new Dictionary<string, string>();
        if (token is not null)
        {
            env["PBM_TOKEN"] = token;
        }

        return ChildProcess.Run("pbm.dll", [Endpoint, .. args], env);
    }

    public void Dispose()
    {
        Process.Dispose();
        System.IO.Directory.Delete(Directory, recursive: true);
    }
}

public sealed partial class PbmEndToEndTests(ServeNode node, Xunit.Abstractions.ITestOutputHelper output) : TrainProcesses, IClassFixture<ServeNode>
{
    [Fact]
    public void ARunSubmittedThroughPbmKeepsItsRecordInTheStore_MetricsWritesTheFilesAndTheSameFiguresAsTrain()
    {
        string[] options = ["--steps", "40", "--limit", "1024", "-b", "32", "--seed", "9"];
        var submit = node.Pbm(["train", "submit", "-m", "lenet5", .. options]);
        Assert.True(submit.Code == 0, submit.Stderr);
        string id = submit.Stdout.Trim().Split('\n')[^1].Trim();
        Assert.True(node.Pbm("train", "tail", "-r", id).Code == 0);

        string folder = Path.Combine(Out, "record");
        var metrics = node.Pbm("train", "metrics", "-r", id, "-o", folder);
        Assert.True(metrics.Code == 0, metrics.Stderr);
        Assert.Contains($"of run {id} (completed, 40 steps, 2 epochs) into {folder}", metrics.Stdout);
        Assert.Equal(["config.json", "metrics.csv", "metrics.png", "steps.csv", "summary.json"], System.IO.Directory.GetFiles(folder).Select(Path.GetFileName).Order());
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], File.ReadAllBytes(Path.Combine(folder, "metrics.png"))[..4]);
        Assert.Equal(41, File.ReadAllLines(Path.Combine(folder, "steps.csv")).Length); // a header and 40 steps

        // the same run on the engine alone writes the same figures (the time columns aside)
        JsonElement local = Train(["--run-id", "local", .. options]);
        static string[] Figures(string csv) => File.ReadAllLines(csv).Select(l => string.Join(",", l.Split(',')[..5])).ToArray();
        string[] epochs = Figures(Path.Combine(folder, "metrics.csv"));
        Assert.Equal("epoch,step,train_loss,test_loss,test_accuracy", epochs[0]);
        Assert.Equal(3, epochs.Length);
        Assert.Equal(Figures(Path.Combine(Out, "local", "metrics.csv")), epochs);
        Assert.Equal(File.ReadAllText(Path.Combine(Out, "local", "steps.csv")), File.ReadAllText(Path.Combine(folder, "steps.csv")));

        using JsonDocument summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "summary.json")));
        Assert.Equal("completed", summary.RootElement.GetProperty("state").GetString());
        Assert.Equal(Hash(local), summary.RootElement.GetProperty("param_sha256").GetString());
        using JsonDocument config = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "config.json")));
        Assert.Equal(32, config.RootElement.GetProperty("batch_size").GetInt32());
        Assert.Equal(config.RootElement.ToString(), JsonDocument.Parse(File.ReadAllText(Path.Combine(Out, "local", "config.json"))).RootElement.ToString().Replace("\"star\"", "\"sharded\""));
        Assert.True(File.Exists(Path.Combine(Out, "local", "summary.json")));

        var logs = node.Pbm("train", "logs", "-r", id);
        Assert.True(logs.Code == 0, logs.Stderr);
        string[] lines = logs.Stdout.Trim().Split('\n');
        Assert.StartsWith($"run {id}: lenet5, 3 epoch(s), 40 steps of batch 32, lr 0.03 (cosine, 100 warm-up steps)", lines[0]);
        Assert.Contains(lines, l => l.StartsWith("epoch 1  step 32  train_loss ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("snapshot ", StringComparison.Ordinal) && l.Contains(" at step 40: "));
        Assert.Equal($"completed at step 40, param_sha256 {Hash(local)}", lines[^1]);

        // a name the node gives is a plain file name in the user's folder, never a path
        Assert.Null(CnnCluster.Pbm.PbmClient.InDirectory(folder, "../escape.csv"));
        Assert.Null(CnnCluster.Pbm.PbmClient.InDirectory(folder, ".bashrc"));
    }

    /// <summary>A model with a map combination: metrics.csv's alpha_below_0.05 column and the epoch lines' α, the same from the store as from `train`.</summary>
    [Fact]
    public void ABouvrieRunsRecordHasTheAlphaColumnThatTrainWrites()
    {
        string[] options = ["--steps", "20", "--limit", "512", "-b", "32", "--seed", "9"];
        var submit = node.Pbm(["train", "submit", "-m", "bouvrie", .. options]);
        Assert.True(submit.Code == 0, submit.Stderr);
        string id = submit.Stdout.Trim().Split('\n')[^1].Trim();
        var tail = node.Pbm("train", "tail", "-r", id);
        Assert.True(tail.Code == 0, tail.Stderr);
        Assert.Matches(@"(?m)^epoch 2  step 20  train_loss .* img/s  α<0\.05 [0-9]+\.[0-9]%$", tail.Stdout);

        string folder = Path.Combine(Out, "record-bouvrie");
        var metrics = node.Pbm("train", "metrics", "-r", id, "-o", folder);
        Assert.True(metrics.Code == 0, metrics.Stderr);
        using ChildProcess local = StartTrain(["--model", "bouvrie", "--run-id", "local-bouvrie", .. options]);
        Finish(local);
        Assert.Matches(@"(?m)^epoch 2/2  step 20  .* img/s  α<0\.05 [0-9]+\.[0-9]%$", local.Stdout);

        // the time columns aside, the same file
        static string[] Figures(string csv) => File.ReadAllLines(csv).Select(l => l.Split(',')).Select(c => string.Join(",", [.. c[..5], .. c[7..]])).ToArray();
        string[] epochs = Figures(Path.Combine(folder, "metrics.csv"));
        Assert.Equal("epoch,step,train_loss,test_loss,test_accuracy,alpha_below_0.05", epochs[0]);
        Assert.Equal(3, epochs.Length);
        Assert.Equal(Figures(Path.Combine(Out, "local-bouvrie", "metrics.csv")), epochs);
        Assert.Contains(node.Pbm("train", "logs", "-r", id).Stdout.Split('\n'), l => l.StartsWith("epoch 1  step 16  ", StringComparison.Ordinal) && l.Contains("  α<0.05 "));
    }

    [Fact]
    public void AStoppedRunResumesFromItsLastSnapshotToTheEngineAlonesBits()
    {
        // long enough that the steps run between seeing step 60 and the stop (a pbm process each, slow on a loaded
        // machine) cannot finish it: 240 of them once did
        string[] options = ["--steps", "3000", "--epochs", "100", "--limit", "4096", "-b", "32", "--seed", "11", "--snapshot-every", "50"];
        var submit = node.Pbm(["train", "submit", "-m", "lenet5", "--run-id", "stop-resume", .. options]);
        Assert.True(submit.Code == 0, submit.Stderr);
        Assert.Contains("run 'stop-resume' has not ended (running): nothing to resume", node.Pbm("train", "resume", "-r", "stop-resume").Stderr);

        // stop it part of the way
        var deadline = Stopwatch.StartNew();
        while (StepOf(node.Pbm("train", "status", "-r", "stop-resume").Stdout) < 60)
        {
            Assert.True(deadline.Elapsed < Timeout, "the run never reached step 60");
            Thread.Sleep(100);
        }

        var stop = node.Pbm("train", "stop", "-r", "stop-resume");
        Assert.True(stop.Code == 0, stop.Stderr);
        Assert.Matches("^run stop-resume stopped at step [0-9]+", stop.Stdout);
        long stoppedAt = long.Parse(Regex.Match(stop.Stdout, "stopped at step ([0-9]+)").Groups[1].Value);
        Assert.InRange(stoppedAt, 60, 2999);
        Assert.Contains("stop-resume | lenet5 | stopped", node.Pbm("train", "list").Stdout);

        var resume = node.Pbm("train", "resume", "-r", "stop-resume");
        Assert.True(resume.Code == 0, resume.Stderr);
        Assert.Contains("resumed run stop-resume from its last snapshot", resume.Stdout);
        var tail = node.Pbm("train", "tail", "-r", "stop-resume");
        Assert.True(tail.Code == 0, tail.Stderr + tail.Stdout);
        Assert.True(tail.Stdout.Contains("completed: 3000 steps"), tail.Stdout);
        // progress at most four times a second however fast the steps come, not only when they pause
        Assert.True(tail.Stdout.Split('\n').Count(l => l.StartsWith("[#", StringComparison.Ordinal)) >= 2, tail.Stdout);

        string hash = Regex.Match(node.Pbm("train", "status", "-r", "stop-resume").Stdout, "param_sha256: ([0-9a-f]{64})").Groups[1].Value;
        Assert.Equal(Hash(Train(options)), hash);
        Assert.Contains("run 'stop-resume' completed: nothing to resume", node.Pbm("train", "resume", "-r", "stop-resume").Stderr);
        Assert.Contains("no run 'ghost'", node.Pbm("train", "resume", "-r", "ghost").Stderr);
    }

    private static long StepOf(string status) => Regex.Match(status, "step: ([0-9]+)/") is { Success: true } m ? long.Parse(m.Groups[1].Value) : 0;

    [Fact]
    public void ServeWithWorkersThenShowSubmitTailStatusAndWorkerList()
    {
        var show = node.Pbm("cluster", "show");
        Assert.True(show.Code == 0, show.Stderr);
        Assert.Matches(@$"akka\.tcp://cnncluster@127\.0\.0\.1:{node.ClusterPort} \| \[coordinator,worker\] \| Up \| Reachable \| ", show.Stdout);
        Assert.Contains("Count: 1 nodes", show.Stdout);

        var submit = node.Pbm("train", "submit", "-m", "lenet5", "--steps", "60", "--limit", "2048", "-b", "64", "-l", "0.05", "--seed", "4");
        Assert.True(submit.Code == 0, submit.Stderr);
        string id = submit.Stdout.Trim().Split('\n')[^1].Trim();
        Assert.Matches("^lenet5-", id);

        var tail = node.Pbm("train", "tail", "-r", id);
        Assert.True(tail.Code == 0, tail.Stderr);
        Assert.True(tail.Stdout.Contains("completed: 60 steps"), tail.Stdout);
        Assert.Contains("step 60/60", tail.Stdout);

        // the submitter's Ask is gone once answered: the run's events are not dead letters in the node's log
        Assert.DoesNotMatch(@"Message \[(StepCommitted|EpochCompleted|RunFinished)\].*was not delivered", node.Process.Stderr);

        var status = node.Pbm("train", "status", "-r", id);
        Assert.Contains("state: completed", status.Stdout);
        string hash = Regex.Match(status.Stdout, "param_sha256: ([0-9a-f]{64})").Groups[1].Value;
        node.Process.WaitForLog($"run {id} completed at step 60, param_sha256 {hash}", TimeSpan.FromSeconds(10)); // one line for the operator

        // the same run on the engine alone (pbm submits with cosine and 100 warm-up steps, as train does)
        Assert.Equal(Hash(Train(["--steps", "60", "--limit", "2048", "-b", "64", "-l", "0.05", "--seed", "4"])), hash);

        var workers = node.Pbm("worker", "list");
        Assert.Matches(@"/user/worker-0 \| 2 threads \| (avx512|avx2|sse\+fma|sse|software) \| [0-9]+ shards done \| last step [0-9.]+ ms", workers.Stdout);
        Assert.Contains("Count: 1 workers", workers.Stdout);

        var list = node.Pbm("train", "list");
        Assert.Contains($"{id} | lenet5 | completed", list.Stdout);
        var snapshots = node.Pbm("snapshot", "list", "-r", id);
        Assert.Matches(@"[0-9]+ \| step 60 \| ", snapshots.Stdout);

        string file = Path.Combine(Out, "m.cnnm");
        Assert.Equal(0, node.Pbm("train", "export", "-r", id, "-o", file).Code);
        Assert.True(new FileInfo(file).Length > 240_000);

        // as ONNX: the README's sample (ONNX Runtime alone) gives the run's reported accuracy on the run's test images
        string onnx = Path.Combine(Out, "m.onnx");
        var exported = node.Pbm("train", "export", "-r", id, "-o", onnx, "--format", "onnx");
        Assert.True(exported.Code == 0, exported.Stderr);
        Assert.Contains("as onnx to", exported.Stdout);
        double reported = JsonDocument.Parse(node.Pbm("train", "status", "-r", id, "--json").Stdout).RootElement.GetProperty("test_accuracy").GetDouble();
        LabeledImages test = MnistFormat.Load(null).Test.Take(2048); // the run's --limit
        string images = Path.Combine(Out, "test-images-idx3-ubyte"), labels = Path.Combine(Out, "test-labels-idx1-ubyte");
        Idx.Write(images, test.Pixels, [test.Count, test.Shape.H, test.Shape.W]);
        Idx.Write(labels, test.Labels, [test.Count]);
        using ChildProcess sample = ChildProcess.Start("OnnxPredict.dll", [onnx, images, labels]);
        Assert.Equal(0, sample.WaitForExit(Timeout));
        Match right = Regex.Match(sample.Stdout, @"(\d+) of 2048 images right");
        Assert.True(right.Success, sample.Stdout + sample.Stderr);
        Assert.Equal((int)Math.Round(reported * 2048), int.Parse(right.Groups[1].Value));
    }

    [Theory]
    [InlineData("nosuch show", "unknown palette 'nosuch'; valid: cluster, train, snapshot, worker")]
    [InlineData("train fly", "unknown command 'fly' in palette 'train'; valid: submit, list, status, tail, logs, metrics, stop, resume, export")]
    [InlineData("train status --color x", "unknown switch '--color' for 'status'; valid: -r/--run, --json")]
    [InlineData("train sumbit -m lenet5", "unknown command 'sumbit' in palette 'train'; did you mean 'submit'?")]
    [InlineData("trian list", "unknown palette 'trian'; did you mean 'train'?")]
    [InlineData("train status --rn x", "unknown switch '--rn' for 'status'; did you mean '--run'?")]
    [InlineData("train status", "missing mandatory switch -r/--run")]
    [InlineData("train submit -m lenet5 -e 0", "--epochs '0' is out of range")]
    [InlineData("train submit -m lenet5 -l -3", "--lr '-3' is out of range")]
    [InlineData("train submit -m nonet", "model 'nonet' is not accepted: give a preset (lenet5, bouvrie, convnet)")]
    [InlineData("train status -r ghost", "no run 'ghost'")]
    [InlineData("cluster down -a nonsense", "is not an address")]
    [InlineData("train", "give a command of palette 'train': submit, list")]
    public void BadCommandsFailWithOneLineListingWhatIsValid(string command, string expected)
    {
        var r = node.Pbm(command.Split(' '));
        Assert.NotEqual(0, r.Code);
        string[] lines = r.Stderr.Trim().Split('\n');
        Assert.Single(lines);
        Assert.StartsWith("error: ", lines[0]);
        Assert.Contains(expected, lines[0]);
    }

    [Theory]
    [InlineData("poison\n", "--run-id 'poison\\x0a': 1-64 letters")]
    [InlineData("..", "--run-id '..': 1-64 letters")]
    public void ABadRunIdIsRefusedOnOneLineAndTheRegistryKeepsAnswering(string id, string expected)
    {
        var r = node.Pbm("train", "submit", "-m", "lenet5", "--steps", "1", "--run-id", id);
        Assert.NotEqual(0, r.Code);
        string line = Assert.Single(r.Stderr.Trim().Split('\n'));
        Assert.Contains(expected, line);

        var list = node.Pbm("train", "list");
        Assert.Equal(0, list.Code);
        Assert.DoesNotContain("poison", list.Stdout);
    }

    [Fact]
    public void AWrongTokenIsRefused()
    {
        var r = node.PbmWithToken("wrong", "cluster", "show");
        Assert.Equal(3, r.Code);
        Assert.Contains("requires a token", r.Stderr);
        Assert.Equal(3, node.PbmWithToken(null, "cluster", "show").Code);
    }

    [Fact]
    public void TheHostSurvivesGarbageOversizedFramesHalfFramesAndVanishingClients()
    {
        var rng = new Random(12345);
        for (int i = 0; i < 150; i++)
        {
            using var c = new TcpClient("127.0.0.1", node.PbmPort);
            NetworkStream s = c.GetStream();
            byte[] bytes = (i % 5) switch
            {
                0 => RandomBytes(rng, rng.Next(1, 4096)),
                1 => [0x7f, 0xff, 0xff, 0xff, 1, 2, 3],                 // a 2 GiB length prefix
                2 => [0, 0, 0, 50, 0x93, 1],                            // half a frame, then gone
                3 => Framing.Encode(new Hello("x", ServeNode.Token))[..^1], // a hello cut short
                _ => [0, 0, 0, 3, 0xc1, 0xc1, 0xc1],                    // a frame that is not a message
            };
            try
            {
                s.Write(bytes);
            }
            catch (IOException)
            {
                // the node may already have closed it: that is the point
            }
        }

        // a client that leaves in the middle of a stream
        using (ChildProcess tail = ChildProcess.Start("pbm.dll", [node.Endpoint, "cluster", "tail"], new Dictionary<string, string> { ["PBM_TOKEN"] = ServeNode.Token }))
        {
            tail.WaitForOutput("MemberUp", TimeSpan.FromSeconds(30));
            tail.KillHard();
        }

        var show = node.Pbm("cluster", "show");
        Assert.Equal(0, show.Code);
        Assert.Contains("Count: 1 nodes", show.Stdout);
        Assert.Contains("protocol error", node.Process.Stderr);
    }

    [Fact]
    public void AFloodOfHalfSentFramesNeitherGrowsTheNodeNorKeepsAClientOut()
    {
        using Process serve = Process.GetProcessById(node.Process.Id);
        Assert.Equal(0, node.Pbm("cluster", "show").Code); // warmed up: its first commands are not what is measured
        serve.Refresh();
        long before = serve.WorkingSet64;

        // 600 connections, each a 1 MiB length prefix and 1 MiB - 1 bytes of body, held open
        var clients = new List<TcpClient>();
        byte[] body = new byte[(1 << 20) - 1];
        try
        {
            for (int i = 0; i < 600; i++)
            {
                var c = new TcpClient();
                clients.Add(c);
                try
                {
                    c.Connect("127.0.0.1", node.PbmPort);
                    NetworkStream s = c.GetStream();
                    s.WriteTimeout = 2000;
                    s.Write([0, 0x10, 0, 0]);
                    s.Write(body);
                }
                catch (Exception e) when (e is IOException or SocketException)
                {
                    // the node closed it: that is the point
                }
            }

            var show = node.Pbm("cluster", "show");
            serve.Refresh();
            long grown = serve.WorkingSet64 - before;
            output.WriteLine($"node working set {before >> 20} MiB before, grown {grown >> 20} MiB with 600 half-sent frames");
            Assert.Equal(0, show.Code);
            Assert.Contains("Count: 1 nodes", show.Stdout);
            Assert.True(grown < 100L << 20, $"the node grew {grown >> 20} MiB");
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public void AClientThatSaysNoHelloIsClosedAtItsDeadline()
    {
        using var c = new TcpClient("127.0.0.1", node.PbmPort);
        NetworkStream s = c.GetStream();
        s.ReadTimeout = 30_000;
        var clock = Stopwatch.StartNew();
        Assert.Equal(0, s.Read(new byte[16], 0, 16)); // the node closes it: end of stream
        Assert.InRange(clock.Elapsed.TotalSeconds, 5, 25);
    }

    [Fact]
    public void InteractiveModeHasAPromptHelpAndExit()
    {
        using ChildProcess p = ChildProcess.StartWithInput("pbm.dll", [node.Endpoint], "help cluster\ncluster status\nexit\n", new Dictionary<string, string> { ["PBM_TOKEN"] = ServeNode.Token });
        Assert.Equal(0, p.WaitForExit(TimeSpan.FromMinutes(1)));
        Assert.Contains($"[{node.Endpoint}] pbm> ", p.Stdout);
        Assert.Contains("cluster down -a|--address <value>", p.Stdout);
        Assert.Contains($"127.0.0.1:{node.ClusterPort} | Up", p.Stdout);
    }

    [Fact]
    public void HelpIsHelpEverywhereAndNeverRunsACommand()
    {
        var all = node.Pbm("--help");
        Assert.True(all.Code == 0, all.Stderr);
        Assert.StartsWith("usage: pbm [host:port]", all.Stdout);
        Assert.Contains("train submit [-m|--model <value>] [-e|--epochs <value>]", all.Stdout);
        Assert.Contains("cluster show", all.Stdout);

        var palette = node.Pbm("help", "train");
        Assert.Equal(0, palette.Code);
        Assert.Contains("train tail -r|--run <value>", palette.Stdout);
        Assert.DoesNotContain("cluster show", palette.Stdout);

        // a command's --help lists its switches one per line, and submits nothing
        var command = node.Pbm("train", "submit", "--help");
        Assert.Equal(0, command.Code);
        Assert.Matches(@"(?m)^\s+-m, --model\s+lenet5, bouvrie, convnet .*or a JSON model spec .*\(default lenet5\)$", command.Stdout);
        Assert.Matches(@"(?m)^\s+--nesterov\s+Nesterov momentum$", command.Stdout);
        Assert.DoesNotContain("submitted", command.Stdout);
        Assert.DoesNotContain("train tail", command.Stdout);

        var unknown = node.Pbm("help", "trian");
        Assert.Equal(2, unknown.Code);
        Assert.Equal("error: the node has no palette 'trian'; did you mean 'train'?", unknown.Stderr.Trim().Split('\n')[^1]);

        // with no node to ask, the usage still comes, and it is not an error
        var offline = ChildProcess.Run("pbm.dll", [$"127.0.0.1:{TrainProcesses.FreePort()}", "--help"]);
        Assert.Equal(0, offline.Code);
        Assert.StartsWith("usage: pbm", offline.Stdout);
    }

    [Theory]
    [InlineData("/etc/passwd")]
    [InlineData("/dev/zero")]
    [InlineData("/etc/no-such-file.json")]
    [InlineData("../../../../../../etc/passwd")]
    [InlineData("escape.json")]
    [InlineData("etc/passwd")]
    [InlineData("etc/hostname")]
    [InlineData("pipe.json")]
    public void AModelOutsideTheModelsFolderIsRefusedInOneLineThatDoesNotSayWhetherItExists(string model)
    {
        var r = node.Pbm("train", "submit", "-m", model, "--steps", "1");
        Assert.NotEqual(0, r.Code);
        string line = Assert.Single(r.Stderr.Trim().Split('\n'));

        // the same words for every path, existing or not, with what is accepted
        Assert.Equal($"error: model '{model}' is not accepted: give a preset (lenet5, bouvrie, convnet) or the name of a JSON spec file in the coordinator's models folder {node.Models} (MODELS_DIR)", line);
        Assert.DoesNotContain("root:", r.Stdout + r.Stderr);
        Assert.Equal(0, node.Pbm("cluster", "status").Code);
    }

    [Fact]
    public void AModelFileInsideTheModelsFolderIsRead()
    {
        var r = node.Pbm("train", "submit", "-m", "bad.json", "--steps", "1");
        Assert.NotEqual(0, r.Code);
        string line = Assert.Single(r.Stderr.Trim().Split('\n'));
        Assert.Contains("model spec file 'bad.json': model spec is not valid JSON", line);
    }

    [Fact]
    public void ClusterDownOfThisNodeIsRefusedEvenWithForceAndTheNodeKeepsServing()
    {
        string self = $"akka.tcp://cnncluster@127.0.0.1:{node.ClusterPort}";
        foreach (string[] extra in new[] { Array.Empty<string>(), ["--force"] })
        {
            var r = node.Pbm(["cluster", "down", "-a", self, .. extra]);
            Assert.NotEqual(0, r.Code);
            string line = Assert.Single(r.Stderr.Trim().Split('\n'));
            Assert.Contains($"{self} is this node: it cannot down itself", line);
        }

        var show = node.Pbm("cluster", "show");
        Assert.Equal(0, show.Code);
        Assert.Contains($"127.0.0.1:{node.ClusterPort} | [coordinator,worker] | Up | Reachable", show.Stdout);
        Assert.False(node.Process.HasExited);
    }

    [Fact]
    public void AModelNameWithAnEscapeSequenceIsRefusedAndShownEscaped()
    {
        (int code, string _, string stderr) = node.Pbm("train", "submit", "-m", "\u001b]0;owned\u0007\u001b[2Jlenet5", "--steps", "1");
        Assert.NotEqual(0, code);
        Assert.Contains("\\x1b]0;owned\\x07\\x1b[2Jlenet5", stderr);
        Assert.DoesNotContain(stderr, c => c is '\u001b' or '\u0007');
        Assert.DoesNotContain("\\x1b", node.Pbm("train", "list").Stdout); // and nothing was registered
    }

    [Fact]
    public void AnAddressWithTooManyFailedHellosHearsSoButTheRightTokenStillGetsInFromThere()
    {
        // from an address of its own (all of 127/8 is this machine), so the other tests' 127.0.0.1 is untouched;
        // behind Docker's port mapping every client shares one address: a stranger's failures there must not lock
        // the operator out, and a token too long to guess makes the lockout a matter of noise, not of guessing
        const string shared = "127.0.0.9";
        for (int i = 0; i < Shared.Pbm.PbmHostSettings.MaxFailedHellos; i++)
        {
            var refused = Assert.IsType<Refused>(HelloFrom(shared, i % 2 == 0 ? "wrong" : null));
            Assert.Contains("requires a token", refused.Reason);
        }

        var locked = Assert.IsType<Refused>(HelloFrom(shared, "wrong again"));
        Assert.Matches(@"^too many failed attempts from 127\.0\.0\.9; try again in [0-9]+ s$", locked.Reason);
        Assert.IsType<Welcome>(HelloFrom(shared, ServeNode.Token));
        Assert.IsType<Welcome>(HelloFrom("127.0.0.10", ServeNode.Token));
        Assert.Equal(0, node.Pbm("cluster", "status").Code);
    }

    [Fact]
    public void ACancelledCommandAnswers130AtOnceAndTheConnectionRunsTheNext()
    {
        using var tcp = new TcpClient("127.0.0.1", node.PbmPort);
        NetworkStream stream = tcp.GetStream();
        stream.ReadTimeout = 15_000;
        var reader = new FrameReader(stream);
        stream.Write(Framing.Encode(new Hello("test", ServeNode.Token)));
        Assert.IsType<Welcome>(reader.Next());

        // `cluster tail` streams until it is cancelled
        stream.Write(Framing.Encode(new RunCommand(1, "cluster", "tail", [])));
        Assert.Equal(1, Assert.IsType<Output>(reader.Next()).Id);
        stream.Write(Framing.Encode(new CancelCommand(1)));
        Assert.Equal(new CommandResult(1, 130, "cancelled"), reader.NextResult(1));

        // nothing more of the cancelled command: the next one's output and result only
        stream.Write(Framing.Encode(new RunCommand(2, "cluster", "status", [])));
        List<IPbmMessage> second = reader.Until(2);
        Assert.Equal(new CommandResult(2, 0, null), second[^1]);
        Assert.DoesNotContain(second, m => m is Output { Id: 1 });

        // a cancel for a command that is not running is ignored
        stream.Write(Framing.Encode(new CancelCommand(7)));
        stream.Write(Framing.Encode(new RunCommand(3, "cluster", "status", [])));
        Assert.Equal(new CommandResult(3, 0, null), reader.NextResult(3));
    }

    private IPbmMessage? HelloFrom(string local, string? token)
    {
        using var c = new TcpClient(new System.Net.IPEndPoint(System.Net.IPAddress.Parse(local), 0));
        c.Connect("127.0.0.1", node.PbmPort);
        NetworkStream s = c.GetStream();
        s.ReadTimeout = 15_000;
        s.Write(Framing.Encode(new Hello("test", token)));
        var buffer = new byte[4096];
        int length = 0;
        var chunk = new byte[4096];
        while (true)
        {
            int n = s.Read(chunk);
            if (n == 0)
            {
                return null;
            }

            Framing.Append(ref buffer, ref length, chunk.AsSpan(0, n));
            if (Framing.Decode(ref buffer, ref length).FirstOrDefault() is IPbmMessage m)
            {
                return m;
            }
        }
    }

    private static byte[] RandomBytes(Random rng, int n)
    {
        var b = new byte[n];
        rng.NextBytes(b);
        return b;
    }
}

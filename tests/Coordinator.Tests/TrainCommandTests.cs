using System.Text.Json;
using Xunit;

namespace CnnCluster.Coordinator.Tests;

/// <summary>The `train` command as a user runs it: a real process, the real Fashion-MNIST files.</summary>
public sealed class TrainCommandTests : IDisposable
{
    private readonly string _out = Directory.CreateTempSubdirectory("train-").FullName;

    public void Dispose() => Directory.Delete(_out, recursive: true);

    [Fact]
    public void ASmallRunEndsWithTheJsonSummaryAndWritesItsFiles()
    {
        var (code, stdout, stderr) = ChildProcess.Run("CnnCluster.Coordinator.dll", ["train", "--steps", "6", "--limit", "512", "--out", _out, "--run-id", "small"]);
        Assert.True(code == 0, stderr);
        string last = stdout.TrimEnd().Split('\n')[^1];
        using JsonDocument json = JsonDocument.Parse(last);
        JsonElement r = json.RootElement;
        Assert.Equal("small", r.GetProperty("run").GetString());
        Assert.Equal("lenet5", r.GetProperty("model").GetString());
        Assert.Equal(6, r.GetProperty("steps").GetInt64());
        Assert.Equal(61706, r.GetProperty("parameters").GetInt32());
        foreach (string key in new[] { "epochs", "train_loss", "test_accuracy", "images_per_sec" })
        {
            Assert.True(r.TryGetProperty(key, out _), $"summary lacks {key}: {last}");
        }

        Assert.Matches("^[0-9a-f]{64}$", r.GetProperty("param_sha256").GetString());
        Assert.Contains("step 6/6", stdout);

        string dir = Path.Combine(_out, "small");
        string[] metrics = File.ReadAllLines(Path.Combine(dir, "metrics.csv"));
        Assert.Equal("epoch,step,train_loss,test_loss,test_accuracy,train_seconds,images_per_sec", metrics[0]);
        Assert.Equal(2, metrics.Length);
        Assert.Equal(7, File.ReadAllLines(Path.Combine(dir, "steps.csv")).Length);
        byte[] png = File.ReadAllBytes(Path.Combine(dir, "metrics.png"));
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
        Assert.True(File.Exists(Path.Combine(dir, "model.json")));
    }

    [Fact]
    public void OneAndTwoThreadsGiveTheSameHash()
    {
        string Hash(string threads)
        {
            var (code, stdout, stderr) = ChildProcess.Run("CnnCluster.Coordinator.dll", ["train", "--steps", "8", "--limit", "1024", "--threads", threads, "--out", _out, "--model", "bouvrie"]);
            Assert.True(code == 0, stderr);
            using JsonDocument json = JsonDocument.Parse(stdout.TrimEnd().Split('\n')[^1]);
            return json.RootElement.GetProperty("param_sha256").GetString()!;
        }

        Assert.Equal(Hash("1"), Hash("2"));
    }

    [Theory]
    [InlineData("--epochs 0", "--epochs '0' is out of range: give a whole number from 1 to 100,000")]
    [InlineData("--lr abc", "--lr 'abc' is not a number: give a number in (0, 10]")]
    [InlineData("--epochs abc", "--epochs 'abc' is not a whole number")]
    [InlineData("--threads x", "--threads 'x' is not a whole number: give a whole number from 1 to 256")]
    [InlineData("--lr -1", "--lr '-1' is out of range: give a number in (0, 10]")]
    [InlineData("--batch-size 0", "--batch-size '0' is out of range")]
    [InlineData("--momentum 1.5", "--momentum '1.5' is out of range: give a number in [0, 1)")]
    [InlineData("--schedule linear", "schedule 'linear' is not one of")]
    [InlineData("--model nosuchnet", "unknown model 'nosuchnet'; use one of lenet5, bouvrie, convnet")]
    [InlineData("--model /nonexistent/net.json", "'/nonexistent/net.json' does not exist")]
    [InlineData("--data /nonexistent/dir", "/nonexistent/dir (--data)")]
    [InlineData("--run-id a/b", "--run-id 'a/b': 1-64 letters")]
    [InlineData("--run-id ..", "--run-id '..': 1-64 letters")]
    [InlineData("--resume .", "--resume '.': 1-64 letters")]
    [InlineData("--frobnicate", "--frobnicate")]
    public void BadInputExitsNonZeroWithOneLineNamingIt(string args, string expected)
    {
        var (code, stdout, stderr) = ChildProcess.Run("CnnCluster.Coordinator.dll", ["train", .. args.Split(' '), "--out", _out]);
        Assert.NotEqual(0, code);
        string[] lines = stderr.Trim().Split('\n');
        Assert.True(lines.Length == 1, $"expected one error line, got: {stderr}");
        Assert.StartsWith("error: ", lines[0]);
        Assert.Contains(expected, lines[0]);
        Assert.DoesNotContain("Exception", stderr + stdout);
    }

    [Theory]
    [InlineData("serve --workers abc", "--workers 'abc' is not a whole number: give a whole number from 0 to 64")]
    [InlineData("serve --worker-threads 0", "--worker-threads '0' is out of range: give a whole number from 1 to 256")]
    [InlineData("evaluate -f m.cnnm --threads x", "--threads 'x' is not a whole number: give a whole number from 1 to 256")]
    [InlineData("evaluate -f m.cnnm --limit -1", "--limit '-1' is out of range: give a whole number from 1 to 2,147,483,647")]
    public void EveryCommandRefusesABadNumberInWords(string args, string expected)
    {
        var (code, stdout, stderr) = ChildProcess.Run("CnnCluster.Coordinator.dll", args.Split(' '));
        Assert.Equal(2, code);
        Assert.Equal($"error: {expected} (see --help)", stderr.Trim());
        Assert.Empty(stdout);
    }

    [Fact]
    public void ARunIdWithATrailingNewlineIsRefusedOnOneLineAndNothingIsWritten()
    {
        var (code, stdout, stderr) = ChildProcess.Run("CnnCluster.Coordinator.dll", ["train", "--run-id", "poison\n", "--steps", "1", "--out", _out]);
        Assert.Equal(2, code);
        Assert.Equal("error: --run-id 'poison\\x0a': " + Shared.Naming.RunIds.Rule + " (see --help)", stderr.Trim());
        Assert.Empty(Directory.GetFileSystemEntries(_out));
        Assert.DoesNotContain("Exception", stdout);
    }

    /// <summary>Specs whose sizes overflow or would allocate gigabytes, and an IDX header whose sizes overflow 64 bits.</summary>
    [Theory]
    [InlineData("""{ "layers": [ { "type": "flatten" }, { "type": "dense", "out": 2147483647 }, { "type": "dense", "out": 10 } ] }""", "about 1,707,249,499,375 parameters")]
    [InlineData("""{ "layers": [ { "type": "flatten" }, { "type": "dense", "out": 300000000 }, { "type": "dense", "out": 10 } ] }""", "about 238,500,000,010 parameters")]
    [InlineData("""{ "input": [3, 2147483647, 2147483647], "layers": [ { "type": "avgpool2d", "size": 2147483647 }, { "type": "flatten" }, { "type": "dense", "out": 10 } ] }""", "activations per sample")]
    [InlineData("""{ "layers": [ { "type": "conv2d", "out": 1000000, "kernel": 5 }, { "type": "flatten" }, { "type": "dense", "out": 10 } ] }""", "parameters")]
    public void AGiantSpecIsRefusedWithItsSizeBeforeAnyAllocation(string json, string expected)
    {
        string spec = Path.Combine(_out, "giant.json");
        File.WriteAllText(spec, json);
        var (code, stdout, stderr) = ChildProcess.Run("CnnCluster.Coordinator.dll", ["train", "--model", spec, "--steps", "1", "--out", _out]);
        Assert.Equal(3, code);
        string line = Assert.Single(stderr.Trim().Split('\n'));
        Assert.StartsWith("error: model 'giant' is too large: ", line);
        Assert.Contains(expected, line);
        Assert.DoesNotContain("Exception", stderr + stdout);
    }

    /// <summary>
    /// A spec within every per-sample limit whose micro-shards would not fit a thread (20,000 1×1 maps: ~15.7 M
    /// activations a sample, ~8 GiB at shard size 128 with their deltas) is refused in one line that says which
    /// shard size fits, alone and through the cluster's registry, before anything the size of it is allocated.
    /// </summary>
    [Fact]
    public void AShardSizeWhoseActivationsWouldNotFitAThreadIsRefusedBeforeAnyAllocation()
    {
        string spec = Path.Combine(_out, "giant.json");
        File.WriteAllText(spec, """{ "layers": [ { "type": "conv2d", "out": 20000, "kernel": 1 }, { "type": "maxpool2d", "size": 28 }, { "type": "flatten" }, { "type": "dense", "out": 10 } ] }""");
        foreach (string[] cluster in new[] { Array.Empty<string>(), ["--workers", "1"] })
        {
            var (code, stdout, stderr) = ChildProcess.Run("CnnCluster.Coordinator.dll", ["train", "--model", spec, "--steps", "1", "--shard-size", "128", "--out", _out, .. cluster]);
            Assert.Equal(3, code);
            string line = Assert.Single(stderr.Trim().Split('\n'));
            Assert.StartsWith("error: model 'giant' is too large for shard size 128: about 4,024,523,264 activations per worker thread (15,720,794 per sample × 128 samples, and their deltas: 15 GiB)", line);
            Assert.Contains("use --shard-size 8 or less", line);
            Assert.DoesNotContain("Exception", stderr + stdout);
        }

        // the same spec at a shard size that fits is not refused by it
        Engine.Models.ModelBudget.CheckShard(Engine.Models.ModelSpecJson.Parse(File.ReadAllText(spec)) with { Name = "giant" }, 8);
    }

    [Fact]
    public void AnIdxHeaderWhoseSizesOverflowIsRefused()
    {
        string data = Directory.CreateDirectory(Path.Combine(_out, "data")).FullName;
        foreach (string file in Directory.GetFiles(Engine.Data.MnistFormat.DefaultDirectory))
        {
            File.Copy(file, Path.Combine(data, Path.GetFileName(file)));
        }

        // 16 images of 2^30 x 2^30 pixels in a 16-byte file: 2^64 bytes, which is 0 in 64 bits
        foreach (string images in Directory.GetFiles(data, "train-images*"))
        {
            File.Delete(images);
        }

        File.WriteAllBytes(Path.Combine(data, "train-images-idx3-ubyte"), [0, 0, 8, 3, 0, 0, 0, 16, 0x40, 0, 0, 0, 0x40, 0, 0, 0]);
        var (code, stdout, stderr) = ChildProcess.Run("CnnCluster.Coordinator.dll", ["train", "--data", data, "--steps", "1", "--out", _out]);
        Assert.Equal(3, code);
        string line = Assert.Single(stderr.Trim().Split('\n'));
        Assert.StartsWith("error: ", line);
        Assert.Contains("train-images-idx3-ubyte is truncated: its header [16, ...] needs more than the 0 bytes of data it has", line);
        Assert.DoesNotContain("Exception", stderr + stdout);
    }

    [Fact]
    public void ABadModelSpecNamesTheLayer()
    {
        string spec = Path.Combine(_out, "bad.json");
        File.WriteAllText(spec, """{ "layers": [ { "type": "conv2d", "out": 4, "kernel": 3 }, { "type": "dense", "in": 7, "out": 10 } ] }""");
        var (code, _, stderr) = ChildProcess.Run("CnnCluster.Coordinator.dll", ["train", "--model", spec, "--out", _out]);
        Assert.Equal(3, code);
        Assert.Contains("layer 1 (dense): declares in=7 but the previous layer gives 2704", stderr);
    }

    [Fact]
    public void ADivergingRunStopsWithAClearErrorAndKeepsItsMetrics()
    {
        // a linear least-squares model with a far too large step grows geometrically to infinity
        string spec = Path.Combine(_out, "linear.json");
        File.WriteAllText(spec, """{ "loss": "mean_squared_error", "layers": [ { "type": "dense", "out": 10 } ] }""");
        var (code, _, stderr) = ChildProcess.Run("CnnCluster.Coordinator.dll", ["train", "--model", spec, "--lr", "10", "--warmup-steps", "0", "--schedule", "constant", "--limit", "2048", "--epochs", "1", "--out", _out, "--run-id", "boom"]);
        Assert.Equal(4, code);
        Assert.Contains("training diverged at step", stderr);
        Assert.Contains("lower the learning rate", stderr);
        Assert.True(File.Exists(Path.Combine(_out, "boom", "steps.csv")));
    }

    [Fact]
    public void ADivergingRunThroughTheClusterFailsAsDivergedInsteadOfQuarantiningItsWorker()
    {
        // the same run with an in-process worker: its infinite loss is refereed by the coordinator, not taken for a faulty machine
        string spec = Path.Combine(_out, "linear.json");
        File.WriteAllText(spec, """{ "loss": "mean_squared_error", "layers": [ { "type": "dense", "out": 10 } ] }""");
        var (code, _, stderr) = ChildProcess.Run("CnnCluster.Coordinator.dll", ["train", "--model", spec, "--lr", "10", "--warmup-steps", "0", "--schedule", "constant", "--limit", "2048", "--epochs", "1", "--out", _out, "--run-id", "boom", "--workers", "1", "--db", Path.Combine(_out, "runs.db")]);
        Assert.Equal(4, code);
        Assert.Matches(@"error: training diverged at step \d+: loss is (Infinity|NaN); lower the learning rate \(now 10\)", stderr);
        Assert.DoesNotContain("quarantined", stderr);
    }
}

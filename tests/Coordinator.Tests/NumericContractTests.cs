using System.Text.Json;
using CnnCluster.Engine.Kernels;
using Xunit;

namespace CnnCluster.Coordinator.Tests;

/// <summary>
/// The numeric contract as a user meets it: `train` in real processes told to use narrower instruction
/// sets (the .NET 10 switches DOTNET_EnableAVX512, DOTNET_EnableAVX2, DOTNET_EnableHWIntrinsic) ends
/// with the same parameter hash as with everything this CPU has. Few steps, since without hardware FMA
/// .NET emulates every fused multiply-add in software (the README quotes 300-step runs).
/// </summary>
public sealed class NumericContractTests : TrainProcesses
{
    public static TheoryData<string> Models => ["lenet5", "bouvrie", "narrow"];

    /// <summary>A custom model with a stride-1 convolution of 4 output channels after the first layer, and tanh.</summary>
    private const string NarrowModel = """
        { "name": "narrow", "input": [1, 28, 28], "classes": 10, "loss": "softmax_cross_entropy",
          "layers": [ { "type": "conv2d", "out": 6, "kernel": 5, "stride": 1, "pad": 2 },
                      { "type": "relu" }, { "type": "maxpool2d", "size": 2 },
                      { "type": "conv2d", "out": 4, "kernel": 3, "stride": 1, "pad": 1 },
                      { "type": "tanh" }, { "type": "avgpool2d", "size": 2 },
                      { "type": "dense", "out": 10 } ] }
        """;

    [Theory]
    [MemberData(nameof(Models))]
    public void EveryInstructionSetGivesTheSameHash(string model)
    {
        string spec = model;
        if (model == "narrow")
        {
            spec = Path.Combine(Out, "narrow.json");
            File.WriteAllText(spec, NarrowModel);
        }

        (string Hash, string Instructions) Run(string? variable)
        {
            var env = new Dictionary<string, string>();
            if (variable is not null)
            {
                foreach (string assignment in variable.Split(' '))
                {
                    env[assignment.Split('=')[0]] = assignment.Split('=')[1];
                }
            }

            var (code, stdout, stderr) = ChildProcess.Run(
                "CnnCluster.Coordinator.dll",
                ["train", "--model", spec, "--steps", "4", "--batch-size", "32", "--limit", "512", "--threads", "1", "--out", Out],
                env,
                TimeSpan.FromMinutes(5));
            Assert.True(code == 0, $"{variable}: {stderr}");
            using JsonDocument json = JsonDocument.Parse(stdout.TrimEnd().Split('\n')[^1]);
            return (json.RootElement.GetProperty("param_sha256").GetString()!, json.RootElement.GetProperty("instructions").GetString()!);
        }

        (string everything, string widest) = Run(null);
        var seen = new HashSet<string> { widest };
        foreach ((string variable, string[] allowed) in new[]
        {
            ("DOTNET_EnableAVX512=0", new[] { "avx2", "sse+fma", "sse", "software" }),
            ("DOTNET_EnableAVX512=0 DOTNET_EnableAVX2=0", ["sse", "software"]),
            ("DOTNET_EnableHWIntrinsic=0", ["software"]),
        })
        {
            (string hash, string instructions) = Run(variable);
            // the switch took effect: the run reports the narrower set it computed with
            Assert.True(allowed.Contains(instructions), $"{variable}: the run computed with {instructions}");
            seen.Add(instructions);
            Assert.True(everything == hash, $"{model}: {variable} ({instructions}) changed the parameter hash of {widest}");
        }

        Assert.True(seen.Count >= 3, $"only {string.Join(", ", seen)}: the instruction sets did not differ");
    }
}

/// <summary>
/// The contract across machines: worker processes on different instruction sets compute one run and
/// end with the engine's hash; a worker that claims another contract is refused, listed as refused by
/// `pbm worker list`, and changes nothing.
/// </summary>
public sealed class NumericContractClusterTests : TrainProcesses
{
    [Fact]
    public void WorkersOnDifferentInstructionSetsAgreeAndAnotherContractIsRefused()
    {
        using var node = new ServeNode(workers: 0);
        using ChildProcess full = ChildProcess.Worker(node.ClusterPort);
        // 128-bit vectors with AVX-512 off: another register width on any x86-64 machine, hardware FMA kept
        using ChildProcess narrow = ChildProcess.Worker(node.ClusterPort, env: new Dictionary<string, string> { ["DOTNET_EnableAVX512"] = "0", ["DOTNET_PreferredVectorBitWidth"] = "128" });
        using ChildProcess stranger = ChildProcess.Worker(node.ClusterPort, env: new Dictionary<string, string> { ["CNN_NUMERIC_CONTRACT"] = "1" });
        node.Process.WaitForLog("; 2 workers", Timeout);
        node.Process.WaitForLog("refused: numeric contract 1, this coordinator computes with " + NumericContract.Version, Timeout);

        string[] run = ["--steps", "90", "--limit", "2048", "-b", "64", "-l", "0.05", "--seed", "5"];
        var submit = node.Pbm(["train", "submit", "-m", "lenet5", .. run]);
        Assert.True(submit.Code == 0, submit.Stderr);
        string id = submit.Stdout.Trim().Split('\n')[^1].Trim();
        var tail = node.Pbm("train", "tail", "-r", id);
        Assert.True(tail.Stdout.Contains("completed: 90 steps"), tail.Stdout + tail.Stderr);
        string hash = System.Text.RegularExpressions.Regex.Match(node.Pbm("train", "status", "-r", id).Stdout, "param_sha256: ([0-9a-f]{64})").Groups[1].Value;
        Assert.Equal(Hash(Train(run)), hash);

        var workers = node.Pbm("worker", "list");
        Assert.True(workers.Code == 0, workers.Stderr);
        Assert.Matches(@"\| 1 threads \| sse\+fma \| [1-9][0-9]* shards done", workers.Stdout);
        Assert.Matches(@"\| 1 threads \| [a-z0-9+]+ \| refused: numeric contract 1, this coordinator computes with " + NumericContract.Version, workers.Stdout);
        Assert.Contains("Count: 2 workers, 1 refused", workers.Stdout);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(node.Process.Stderr, "refused: numeric contract 1"));
    }
}

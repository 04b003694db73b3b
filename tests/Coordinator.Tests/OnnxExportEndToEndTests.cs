using System.Text.Json;
using System.Text.RegularExpressions;
using Xunit;

namespace CnnCluster.Coordinator.Tests;

/// <summary>
/// A trained model leaves the project as ONNX, through the real commands: `train --export onnx` writes model.onnx beside
/// model.cnnm, the README's sample (ONNX Runtime alone, as a user's program) classifies the 10,000 test images with
/// exactly `evaluate`'s accuracy, `export -f model.cnnm` writes the same bytes again, and a model file that is not ours,
/// is truncated or is of a newer format is one line and exit code 3.
/// </summary>
public sealed partial class OnnxExportEndToEndTests : TrainProcesses
{
    [Fact]
    public void ATrainedModelExportedAsOnnxClassifiesTheTestSetAsEvaluateSays()
    {
        JsonElement summary = Train(["--model", "lenet5", "--steps", "300", "--limit", "8192", "--seed", "3", "--threads", "1", "--export", "onnx"]);
        string dir = summary.GetProperty("out").GetString()!;
        string cnnm = Path.Combine(dir, "model.cnnm"), onnx = Path.Combine(dir, "model.onnx");
        Assert.True(File.Exists(onnx), "train --export onnx wrote no model.onnx");

        JsonElement evaluated = Json(Run("CnnCluster.Coordinator.dll", ["evaluate", "-f", cnnm, "--threads", "1"]));
        Assert.Equal(10_000, evaluated.GetProperty("images").GetInt32());
        int right = (int)Math.Round(evaluated.GetProperty("test_accuracy").GetDouble() * 10_000);
        Assert.InRange(right, 6_000, 10_000); // trained: far from a random model's 1,000

        Match sample = SampleLine().Match(Run("OnnxPredict.dll", [onnx]));
        Assert.True(sample.Success, "the sample printed no accuracy line");
        Assert.Equal(right, int.Parse(sample.Groups["right"].Value));
        Assert.Equal("10000", sample.Groups["of"].Value);

        string again = Path.Combine(Out, "again.onnx");
        JsonElement exported = Json(Run("CnnCluster.Coordinator.dll", ["export", "-f", cnnm, "-o", again]));
        Assert.Equal(new FileInfo(onnx).Length, exported.GetProperty("bytes").GetInt64());
        Assert.Equal(File.ReadAllBytes(onnx), File.ReadAllBytes(again)); // the same metadata from the run's summary.json
    }

    [Theory]
    [InlineData("not ours", "it does not start with CNNMODEL")]
    [InlineData("truncated", "bytes")]
    [InlineData("newer", "version 2 is not supported")]
    public void AModelFileThatCannotBeExportedIsOneLineAndExitCode3(string kind, string why)
    {
        string good = Path.Combine(Out, "good.cnnm");
        JsonElement summary = Train(["--model", "lenet5", "--steps", "2", "--limit", "256", "--threads", "1"]);
        File.Copy(Path.Combine(summary.GetProperty("out").GetString()!, "model.cnnm"), good);
        byte[] bytes = File.ReadAllBytes(good);
        byte[] bad = kind switch
        {
            "not ours" => [.. "PK\u0003\u0004 a zip, say"u8],
            "truncated" => bytes[..(bytes.Length / 2)],
            _ => [.. bytes[..8], 2, 0, 0, 0, .. bytes[12..]],
        };
        string path = Path.Combine(Out, "bad.cnnm");
        File.WriteAllBytes(path, bad);

        using ChildProcess p = ChildProcess.Start("CnnCluster.Coordinator.dll", ["export", "-f", path, "-o", Path.Combine(Out, "bad.onnx")]);
        Assert.Equal(3, p.WaitForExit(Timeout));
        string error = p.Stderr.Trim();
        Assert.Single(error.Split('\n'));
        Assert.StartsWith("error: ", error);
        Assert.Contains(why, error);
        Assert.False(File.Exists(Path.Combine(Out, "bad.onnx")));
    }

    private static string Run(string dll, string[] args)
    {
        using ChildProcess p = ChildProcess.Start(dll, args);
        int code = p.WaitForExit(Timeout);
        Assert.True(code == 0, $"{dll} {string.Join(' ', args)} exited {code}\n{p.Stdout}\n{p.Stderr}");
        return p.Stdout;
    }

    private static JsonElement Json(string stdout) => JsonDocument.Parse(stdout.TrimEnd().Split('\n')[^1]).RootElement.Clone();

    [GeneratedRegex(@"(?<right>\d+) of (?<of>\d+) images right, accuracy")]
    private static partial Regex SampleLine();
}

using System.Diagnostics;
using System.Text.Json;
using CnnCluster.Engine.Data;
using CnnCluster.Engine.Kernels;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Training;
using CnnCluster.Export;

namespace CnnCluster.Coordinator.Export;

/// <summary>What an ONNX export wrote: the file, its size and how long it took.</summary>
public sealed record OnnxWritten(string Path, long Bytes, double Seconds);

/// <summary>
/// A model as an ONNX file, the way every entry point writes it (`export`, `train --export onnx`, `pbm train export
/// --format onnx`): the input normalisation from the training set of <paramref name="dataDirectory"/> (its pixel
/// statistics, as training and `evaluate` compute them), and metadata naming where the parameters came from.
/// </summary>
public static class OnnxFile
{
    public static OnnxWritten Write(string path, ModelSpec spec, float[] parameters, InputNormalization normalization, RunFacts facts, bool softmax = true)
    {
        var clock = Stopwatch.StartNew();
        long bytes = OnnxExport.Write(path, spec, parameters, normalization, facts.Metadata(spec, parameters), softmax);
        return new OnnxWritten(path, bytes, clock.Elapsed.TotalSeconds);
    }

    /// <summary>The training set's statistics of the data the model was trained on (the default dataset, or --data).</summary>
    public static InputNormalization NormalizationOf(string? dataDirectory)
    {
        LabeledImages train = MnistFormat.Load(dataDirectory).Train;
        return new InputNormalization(train.Mean, train.Std);
    }
}

/// <summary>What is known of the run a model came from, for the ONNX file's metadata (unknown fields are left out).</summary>
public sealed record RunFacts(string? RunId, double? TestAccuracy, long? Step)
{
    public static RunFacts None { get; } = new(null, null, null);

    /// <summary>A model file of a run directory (runs/&lt;id&gt;/model.cnnm): its summary.json beside it, when there is one.</summary>
    public static RunFacts BesideModelFile(string modelFile)
    {
        string summary = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(modelFile))!, "summary.json");
        try
        {
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(summary));
            JsonElement root = doc.RootElement;
            return new RunFacts(
                root.TryGetProperty("run", out JsonElement run) ? run.GetString() : null,
                root.TryGetProperty("test_accuracy", out JsonElement accuracy) && accuracy.ValueKind == JsonValueKind.Number ? accuracy.GetDouble() : null,
                root.TryGetProperty("steps", out JsonElement steps) && steps.ValueKind == JsonValueKind.Number ? steps.GetInt64() : null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            return None;
        }
    }

    public IReadOnlyDictionary<string, string> Metadata(ModelSpec spec, float[] parameters)
    {
        var m = new Dictionary<string, string>
        {
            ["model"] = spec.Name,
            ["param_sha256"] = ParameterHash.Of(parameters),
            ["numeric_contract"] = NumericContract.Version.ToString(),
            ["input"] = "pixels: raw 0-255 values, (N, C, H, W); the graph normalises them with the training set's mean and std",
        };
        if (RunId is not null)
        {
            m["run_id"] = RunId;
        }

        if (TestAccuracy is double a)
        {
            m["test_accuracy"] = a.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        }

        if (Step is long s)
        {
            m["step"] = s.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return m;
    }
}

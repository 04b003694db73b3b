using System.Globalization;
using System.Text;
using System.Text.Json;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Reporting;

/// <summary>
/// A run's record as files and words, made from its history in the store (<see cref="RunHistory"/>) the
/// same way whoever started the run: metrics.csv, steps.csv and metrics.png as `train` writes them, plus
/// config.json (its settings) and summary.json; and the history as log lines for `train logs`.
/// </summary>
public static class RunRecord
{
    public static readonly string[] FileNames = ["metrics.csv", "steps.csv", "metrics.png", "config.json", "summary.json"];

    /// <summary>Writes the record's files into <paramref name="directory"/>.</summary>
    public static void Write(RunHistory h, string directory)
    {
        var metrics = new MetricsFiles(directory);
        foreach (StepRecorded s in h.Steps)
        {
            metrics.Add(new StepReport(s.Step, h.TotalSteps, s.Epoch, s.Loss, s.LearningRate, s.Images, s.TrainSeconds));
        }

        foreach (EpochRecorded e in h.Epochs)
        {
            metrics.Add(new EpochReport(e.Epoch, e.Step, e.TrainLoss, e.TestLoss, e.TestAccuracy, e.TrainSeconds, e.ImagesPerSecond, e.SparseAlphaFraction));
        }

        metrics.Write(Math.Max(1, h.StepsPerEpoch));
        File.WriteAllText(Path.Combine(directory, "config.json"), ConfigJson(h.Config));
        File.WriteAllText(Path.Combine(directory, "summary.json"), SummaryJson(h));
    }

    /// <summary>The settings of a run as a JSON object, named as the command lines name them, with the model's spec.</summary>
    public static string ConfigJson(RunConfig c)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("model", c.Model);
            w.WriteNumber("epochs", c.Epochs);
            if (c.MaxSteps is long steps)
            {
                w.WriteNumber("steps", steps);
            }

            w.WriteNumber("batch_size", c.BatchSize);
            w.WriteNumber("lr", c.LearningRate);
            w.WriteNumber("momentum", c.Momentum);
            w.WriteBoolean("nesterov", c.Nesterov);
            w.WriteNumber("weight_decay", c.WeightDecay);
            w.WriteString("schedule", c.Schedule);
            w.WriteNumber("warmup_steps", c.WarmupSteps);
            w.WriteNumber("seed", c.Seed);
            w.WriteNumber("shard_size", c.ShardSize);
            w.WriteBoolean("augment", c.Augment);
            if (c.DataLimit is int limit)
            {
                w.WriteNumber("limit", limit);
            }

            w.WriteNumber("snapshot_every", c.SnapshotEvery);
            w.WriteNumber("keep_snapshots", c.KeepSnapshots);
            w.WriteString("reduce", c.Reduction.ToString().ToLowerInvariant());
            w.WriteNumber("verify", c.Verify);
            w.WritePropertyName("model_spec");
            using (JsonDocument spec = JsonDocument.Parse(c.ModelJson))
            {
                spec.RootElement.WriteTo(w);
            }

            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }

    private static string SummaryJson(RunHistory h)
    {
        EpochRecorded? last = h.Epochs.Length > 0 ? h.Epochs[^1] : null;
        StepRecorded? step = h.Steps.Length > 0 ? h.Steps[^1] : null;
        var summary = new SortedDictionary<string, object?>(StringComparer.Ordinal)
        {
            ["run"] = h.RunId,
            ["model"] = h.Config.Model,
            ["state"] = h.State,
            ["steps"] = step?.Step ?? 0,
            ["total_steps"] = h.TotalSteps,
            ["epochs"] = h.Epochs.Length,
            ["train_loss"] = last?.TrainLoss,
            ["test_loss"] = last?.TestLoss,
            ["test_accuracy"] = last?.TestAccuracy,
            ["images_per_sec"] = last?.ImagesPerSecond,
            ["train_seconds"] = step?.TrainSeconds,
            ["param_sha256"] = h.Ended?.ParamSha256 ?? step?.ParamSha256,
            ["reason"] = h.Ended?.Reason,
            ["forked_from"] = h.ForkedFrom,
        };
        return JsonSerializer.Serialize(summary) + "\n";
    }

    /// <summary>
    /// The run's history in words, in step order: its start, its progress at every tenth of the run, each
    /// epoch's figures, each snapshot kept, and its end.
    /// </summary>
    public static IEnumerable<string> Log(RunHistory h)
    {
        RunConfig c = h.Config;
        yield return $"run {h.RunId}: {c.Model}, {c.Epochs} epoch(s), {h.TotalSteps} steps of batch {c.BatchSize}, lr {Num(c.LearningRate)} ({c.Schedule}, {c.WarmupSteps} warm-up steps), " +
            $"momentum {Num(c.Momentum)}{(c.Nesterov ? " nesterov" : string.Empty)}, weight decay {Num(c.WeightDecay)}, seed {c.Seed}{(c.Augment ? ", augmented" : string.Empty)}, {c.Reduction.ToString().ToLowerInvariant()} reduction" +
            (h.ForkedFrom is null ? string.Empty : $", forked from {h.ForkedFrom}");

        long every = Math.Max(1, h.TotalSteps / 10);
        var lines = new List<(long Step, int Order, string Text)>();
        foreach (StepRecorded s in h.Steps.Where(s => s.Step == 1 || s.Step % every == 0))
        {
            lines.Add((s.Step, 0, $"step {s.Step}/{h.TotalSteps}  epoch {s.Epoch + 1}  loss {s.Loss.ToString("F4", CultureInfo.InvariantCulture)}  lr {s.LearningRate.ToString("G4", CultureInfo.InvariantCulture)}  {(s.Images / Math.Max(1e-9, s.TrainSeconds)).ToString("F0", CultureInfo.InvariantCulture)} img/s"));
        }

        foreach (EpochRecorded e in h.Epochs)
        {
            lines.Add((e.Step, 1, string.Create(CultureInfo.InvariantCulture, $"epoch {e.Epoch + 1}  step {e.Step}  train_loss {e.TrainLoss:F4}  test_loss {e.TestLoss:F4}  test_accuracy {e.TestAccuracy * 100:F2}%  {e.ImagesPerSecond:F0} img/s") + MetricsFiles.SparseAlphaText(e.SparseAlphaFraction)));
        }

        foreach (SnapshotRecorded s in h.Snapshots)
        {
            lines.Add((s.Step, 2, string.Create(CultureInfo.InvariantCulture, $"snapshot {s.SequenceNr} at step {s.Step}: {s.Bytes:N0} bytes, {s.Timestamp:yyyy-MM-dd HH:mm:ss} UTC")));
        }

        foreach ((long _, int _, string text) in lines.OrderBy(l => l.Step).ThenBy(l => l.Order))
        {
            yield return text;
        }

        yield return h.Ended is { } end
            ? $"{end.Status} at step {end.Step}{(end.ParamSha256 is null ? string.Empty : $", param_sha256 {end.ParamSha256}")}{(end.Reason is null ? string.Empty : $": {end.Reason}")}"
            : $"{h.State} at step {(h.Steps.Length > 0 ? h.Steps[^1].Step : 0)} of {h.TotalSteps}";
    }

    private static string Num(double v) => v.ToString(CultureInfo.InvariantCulture);
}

using System.Diagnostics;
using CnnCluster.Coordinator.Cluster;
using CnnCluster.Coordinator.Export;
using CnnCluster.Coordinator.Reporting;
using CnnCluster.Coordinator.Runs;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Training;
using CnnCluster.Export;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Local;

/// <summary>
/// A `train` run on this machine: resolve the model and data, run it on the chosen backend (the engine
/// alone, or the embedded cluster with persistence), write runs/&lt;id&gt;/ (metrics.csv, steps.csv,
/// metrics.png, model.json, model.cnnm, config.json, summary.json) and return the summary.
/// </summary>
public static class LocalTraining
{
    public static RunSummary Run(TrainRequest request, TextWriter output, CancellationToken cancellation = default)
    {
        var wall = Stopwatch.StartNew();
        string runDirectory = Path.Combine(request.OutputDirectory, request.RunId);
        using ITrainingBackend backend = request.Cluster is { } cluster
            ? new ClusterBackend(cluster, request.DataDirectory, request.Training.Threads, runDirectory)
            : new EngineBackend();
        backend.Start(output, cancellation);

        // a resumed run is what its journal says it is
        ModelSpec spec;
        if (request.Cluster is { Resume: true })
        {
            RunConfig config = backend.Describe(request.RunId);
            request = request with { Model = config.Model, Training = config.ToTrainingOptions(request.Training.Threads), Limit = config.DataLimit };
            spec = ModelSpecJson.Parse(config.ModelJson, config.Model);
            output.WriteLine($"resuming run {request.RunId}");
        }
        else
        {
            spec = ModelCatalog.Resolve(request.Model);
        }

        Network network = Network.Build(spec);
        RunData data = RunData.For(request.DataDirectory, request.Limit);
        CheckCompatible(spec, data);

        TrainingOptions options = request.Training;
        int stepsPerEpoch = options.StepsPerEpoch(data.Train.Count);
        long totalSteps = options.TotalSteps(data.Train.Count);
        Directory.CreateDirectory(runDirectory);
        File.WriteAllText(Path.Combine(runDirectory, "model.json"), ModelSpecJson.Write(spec));
        File.WriteAllText(Path.Combine(runDirectory, "config.json"), RunRecord.ConfigJson(RunConfig.From(spec, request.Model, options, request.Limit,
            request.Cluster?.SnapshotEvery ?? RunConfig.DefaultSnapshotEvery, request.Cluster?.KeepSnapshots ?? RunConfig.DefaultKeepSnapshots, request.Cluster?.Reduction ?? Reduction.Star) with { Verify = request.Cluster?.Verify ?? 0 }));

        output.WriteLine($"run {request.RunId}: {network.Describe()}");
        output.WriteLine(
            $"data {data.Directory}: {data.Train.Count} training / {data.Test.Count} test images; batch {options.BatchSize}, shard {options.ShardSize}, " +
            $"{totalSteps} steps, lr {options.LearningRate} ({options.Schedule}), momentum {options.Sgd.Momentum}{(options.Sgd.Nesterov ? " nesterov" : string.Empty)}, " +
            $"weight decay {options.Sgd.WeightDecay}, seed {options.Seed}{(options.Augment ? ", augmented" : string.Empty)}, {Describe(request)}");

        var metrics = new MetricsFiles(runDirectory);
        var progress = new ConsoleProgress(metrics, (int)Math.Ceiling((double)totalSteps / stepsPerEpoch), output);
        BackendResult result;
        try
        {
            result = progress.Run(stepsPerEpoch, totalSteps, observer => backend.Train(request, spec, data, observer, output, cancellation));
        }
        finally
        {
            // a diverged or cancelled run still leaves its figures behind
            metrics.Write(stepsPerEpoch);
        }

        if (result.Parameters is { } parameters)
        {
            ModelFile.Write(Path.Combine(runDirectory, "model.cnnm"), spec, parameters);
        }

        NodeBytes[]? nodeBytes = result.Traffic?.Nodes?.Select(NodeBytes.From).ToArray();
        foreach (NodeBytes n in nodeBytes ?? [])
        {
            output.WriteLine($"data plane, {n.Node}: {n.Sent:N0} bytes sent and {n.Received:N0} received per step over {n.Steps} steps; whole states {n.StateSent:N0} sent, {n.StateReceived:N0} received");
        }

        EpochReport last = metrics.Epochs[^1];
        if (request.ExportOnnx && result.Parameters is { } trained)
        {
            OnnxWritten onnx = OnnxFile.Write(Path.Combine(runDirectory, "model.onnx"), spec, trained, new InputNormalization(data.Train.Mean, data.Train.Std), new RunFacts(request.RunId, Math.Round(last.TestAccuracy, 6), result.Steps));
            output.WriteLine($"onnx: {onnx.Path} ({onnx.Bytes:N0} bytes, opset {OnnxExport.Opset}; input raw 0-255 pixels, outputs logits and probabilities)");
        }

        var summary = new RunSummary
        {
            Run = request.RunId,
            Model = spec.Name,
            Parameters = network.ParameterCount,
            Epochs = metrics.Epochs.Count,
            Steps = result.Steps,
            BatchSize = options.BatchSize,
            Threads = options.Threads,
            TrainLoss = Math.Round(last.TrainLoss, 6),
            TestLoss = Math.Round(last.TestLoss, 6),
            TestAccuracy = Math.Round(last.TestAccuracy, 6),
            ImagesPerSecond = Math.Round(result.ImagesPerSecond, 1),
            WallSeconds = Math.Round(wall.Elapsed.TotalSeconds, 2),
            ParamSha256 = result.ParamSha256,
            OutputDirectory = runDirectory,
            Mode = request.Cluster is null ? "engine" : "cluster",
            Workers = request.Cluster is null ? null : result.Workers,
            WireBytesPerStep = nodeBytes is not null ? nodeBytes.Sum(n => n.Sent)
                : result.Traffic is { } t && result.Steps > 0 ? (t.ParameterBytesSent + t.GradientBytesReceived) / result.Steps : null,
            Reduction = request.Cluster?.Reduction.ToString().ToLowerInvariant(),
            NodeBytesPerStep = nodeBytes,
            CpuMicrosecondsPerStep = result.CpuMicrosecondsPerStep is { } cpu ? Math.Round(cpu) : nodeBytes?.Sum(n => n.CpuMicrosecondsPerStep),
            Reassigned = result.Traffic?.Reassigned,
            Speculative = result.Traffic?.Speculative,
            RefusedResults = result.Traffic?.Checks?.Refused,
            VerifiedNodes = result.Traffic?.Checks?.Verified,
            Disagreements = result.Traffic?.Checks?.Disagreements,
            Quarantined = result.Traffic?.Checks?.Quarantined,
            PhaseMicroseconds = result.PhaseMicroseconds is { } phases
                ? StepPhaseLog.FigureNames.Select((name, i) => (name, value: phases[i])).Where(p => double.IsFinite(p.value)).ToDictionary(p => p.name, p => Math.Round(p.value, 1))
                : null,
        };
        File.WriteAllText(Path.Combine(runDirectory, "summary.json"), summary.ToJsonLine() + "\n");
        return summary;
    }

    private static string Describe(TrainRequest r) => r.Cluster is { } c
        ? $"cluster: {c.Workers} in-process worker(s), {c.WorkerProcesses} worker process(es), {c.WorkerThreads} thread(s) each"
        : $"engine alone, {r.Training.Threads} thread(s)";

    private static void CheckCompatible(ModelSpec spec, RunData data)
    {
        if (spec.Input != data.Train.Shape)
        {
            throw new ModelSpecException($"model '{spec.Name}' takes input {spec.Input} but the images in {data.Directory} are {data.Train.Shape}");
        }

        if (data.Train.Classes > spec.Classes)
        {
            throw new ModelSpecException($"model '{spec.Name}' has {spec.Classes} classes but the labels in {data.Directory} go up to {data.Train.Classes - 1}");
        }
    }
}

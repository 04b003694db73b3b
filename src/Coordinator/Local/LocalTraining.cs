using System.Diagnostics;
using CnnCluster.Coordinator.Reporting;
using CnnCluster.Engine.Data;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Training;

namespace CnnCluster.Coordinator.Local;

/// <summary>
/// The embedded single-machine run: load the data, build the model, train on this process's threads,
/// write runs/&lt;id&gt;/ (metrics.csv, steps.csv, metrics.png, model.json) and return the summary.
/// </summary>
public static class LocalTraining
{
    public static RunSummary Run(TrainRequest request, TextWriter output, CancellationToken cancellation = default)
    {
        var wall = Stopwatch.StartNew();
        ModelSpec spec = ModelCatalog.Resolve(request.Model);
        Network network = Network.Build(spec);
        DatasetSplits data = MnistFormat.Load(request.DataDirectory);
        CheckCompatible(spec, data);
        LabeledImages train = request.Limit is int n ? data.Train.Take(n) : data.Train;
        LabeledImages test = request.Limit is int m ? data.Test.Take(m) : data.Test;

        TrainingOptions options = request.Training;
        var trainer = new Trainer(network, options, train, test);
        string runDirectory = Path.Combine(request.OutputDirectory, request.RunId);
        Directory.CreateDirectory(runDirectory);
        File.WriteAllText(Path.Combine(runDirectory, "model.json"), ModelSpecJson.Write(spec));

        output.WriteLine($"run {request.RunId}: {network.Describe()}");
        output.WriteLine(
            $"data {data.Directory}: {train.Count} training / {test.Count} test images; batch {options.BatchSize}, shard {options.ShardSize}, " +
            $"{trainer.TotalSteps} steps, lr {options.LearningRate} ({options.Schedule}), momentum {options.Sgd.Momentum}{(options.Sgd.Nesterov ? " nesterov" : string.Empty)}, " +
            $"weight decay {options.Sgd.WeightDecay}, seed {options.Seed}, {options.Threads} thread(s)");

        var metrics = new MetricsFiles(runDirectory);
        var progress = new ConsoleProgress(metrics, (int)Math.Ceiling((double)trainer.TotalSteps / trainer.StepsPerEpoch), output);
        EpochReport last;
        try
        {
            last = progress.Run(trainer.StepsPerEpoch, trainer.TotalSteps, observer => trainer.Run(observer, cancellation));
        }
        finally
        {
            // a diverged or cancelled run still leaves its figures behind
            metrics.Write(trainer.StepsPerEpoch);
        }

        return new RunSummary
        {
            Run = request.RunId,
            Model = spec.Name,
            Parameters = network.ParameterCount,
            Epochs = metrics.Epochs.Count,
            Steps = trainer.Step,
            BatchSize = options.BatchSize,
            Threads = options.Threads,
            TrainLoss = Math.Round(last.TrainLoss, 6),
            TestLoss = Math.Round(last.TestLoss, 6),
            TestAccuracy = Math.Round(last.TestAccuracy, 6),
            ImagesPerSecond = Math.Round(last.ImagesPerSecond, 1),
            WallSeconds = Math.Round(wall.Elapsed.TotalSeconds, 2),
            ParamSha256 = ParameterHash.Of(trainer.Parameters),
            OutputDirectory = runDirectory,
        };
    }

    private static void CheckCompatible(ModelSpec spec, DatasetSplits data)
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

using System.CommandLine;
using System.Text.Json;
using CnnCluster.Coordinator.Options;
using CnnCluster.Engine.Data;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Training;

namespace CnnCluster.Coordinator.Cli;

/// <summary>`evaluate`: test accuracy of an exported model file (runs/&lt;id&gt;/model.cnnm), as one JSON line.</summary>
internal static class EvaluateCommand
{
    private static readonly Option<string> ModelFileOption = new("--model-file", "-f") { Description = "a model file written by train (runs/<id>/model.cnnm) or pbm train export", Required = true };
    private static readonly Option<string?> Data = new("--data") { Description = "directory of the IDX files (default $CNN_DATA, then the Debian package's)" };
    private static readonly RunOption Limit = new("limit", null, OptionKind.Whole, "only the first N test images") { Min = 1, Max = int.MaxValue, Example = "100" };
    private static readonly RunOption Threads = new("threads", "t", OptionKind.Whole, "threads") { Default = "all cores", Min = 1, Max = 256, Example = "1" };

    public static Command Create()
    {
        var command = new Command("evaluate", "report the test accuracy of a model file");
        command.Options.Add(ModelFileOption);
        command.Options.Add(Data);
        command.Options.Add(CommandLineOptions.Of(Limit));
        command.Options.Add(CommandLineOptions.Of(Threads));
        command.SetAction(p =>
        {
            string path = p.GetValue(ModelFileOption)!;
            (ModelSpec spec, float[] parameters) = ModelFile.Read(path);
            Network network = Network.Build(spec);
            DatasetSplits data = MnistFormat.Load(p.GetValue(Data));
            LabeledImages test = CommandLineOptions.Whole(p, Limit) is int n ? data.Test.Take(n) : data.Test;
            if (test.Shape != spec.Input)
            {
                throw new ModelSpecException($"model '{spec.Name}' takes input {spec.Input} but the images in {data.Directory} are {test.Shape}");
            }

            (double loss, double accuracy) = new Evaluator(network, CommandLineOptions.Whole(p, Threads) ?? Environment.ProcessorCount).Evaluate(parameters, test);
            Console.Out.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["model_file"] = path,
                ["model"] = spec.Name,
                ["parameters"] = network.ParameterCount,
                ["images"] = test.Count,
                ["test_loss"] = Math.Round(loss, 6),
                ["test_accuracy"] = Math.Round(accuracy, 6),
                ["param_sha256"] = ParameterHash.Of(parameters),
            }));
            return 0;
        });
        return command;
    }
}

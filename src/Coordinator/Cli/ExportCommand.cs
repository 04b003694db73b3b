using System.CommandLine;
using System.Text.Json;
using CnnCluster.Coordinator.Export;
using CnnCluster.Engine.Models;
using CnnCluster.Export;

namespace CnnCluster.Coordinator.Cli;

/// <summary>`export`: a model file (runs/&lt;id&gt;/model.cnnm) as an ONNX graph, with one JSON line saying what was written.</summary>
internal static class ExportCommand
{
    private static readonly Option<string> ModelFileOption = new("--model-file", "-f") { Description = "a model file written by train (runs/<id>/model.cnnm) or pbm train export", Required = true };
    private static readonly Option<string> Output = new("--output", "-o") { Description = "the ONNX file to write, e.g. model.onnx", Required = true };
    private static readonly Option<string> Format = new("--format") { Description = "the format to write (onnx)", DefaultValueFactory = _ => "onnx" };
    private static readonly Option<string?> Data = new("--data") { Description = "directory of the IDX files the model was trained on, for the input normalisation (default $CNN_DATA, then the Debian package's)" };
    private static readonly Option<bool> LogitsOnly = new("--logits-only") { Description = "leave out the 'probabilities' output (softmax of the logits)" };

    public static Command Create()
    {
        var command = new Command("export", $"write a model file as ONNX (opset {OnnxExport.Opset}): input raw 0-255 pixels, output logits and probabilities");
        command.Options.Add(ModelFileOption);
        command.Options.Add(Output);
        command.Options.Add(Format);
        command.Options.Add(Data);
        command.Options.Add(LogitsOnly);
        command.SetAction(p =>
        {
            if (p.GetValue(Format) is string format && format != "onnx")
            {
                throw new ArgumentException($"format '{format}' is not supported; the one export format is onnx");
            }

            string path = p.GetValue(ModelFileOption)!;
            (ModelSpec spec, float[] parameters) = ModelFile.Read(path);
            InputNormalization normalization = OnnxFile.NormalizationOf(p.GetValue(Data));
            OnnxWritten written = OnnxFile.Write(p.GetValue(Output)!, spec, parameters, normalization, RunFacts.BesideModelFile(path), softmax: !p.GetValue(LogitsOnly));
            Console.Out.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["model_file"] = path,
                ["model"] = spec.Name,
                ["onnx_file"] = written.Path,
                ["bytes"] = written.Bytes,
                ["opset"] = OnnxExport.Opset,
                ["seconds"] = Math.Round(written.Seconds, 3),
                ["input_mean"] = normalization.Mean,
                ["input_std"] = normalization.Std,
            }));
            return 0;
        });
        return command;
    }
}

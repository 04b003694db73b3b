using System.Text.Json;
using System.Text.Json.Nodes;
using CnnCluster.Engine.Layers;
using CnnCluster.Engine.Tensors;

namespace CnnCluster.Engine.Models;

/// <summary>
/// Reads and writes model specs as JSON:
/// <code>
/// { "name": "tiny", "input": [1, 28, 28], "classes": 10, "loss": "softmax_cross_entropy",
///   "layers": [ { "type": "conv2d", "out": 6, "kernel": 5, "pad": 2 }, { "type": "relu" },
///               { "type": "maxpool2d", "size": 2 }, { "type": "dropout", "p": 0.25 },
///               { "type": "mapcombination", "out": 8, "kernel": 3, "sparsity": 0.01, "penalty": "entropy" },
///               { "type": "dense", "out": 10 } ] }
/// </code>
/// A map combination's "penalty" is "l1" (the default: Bouvrie's λΣ|α|, constant for a softmax) or
/// "entropy" (λ Σⱼ H(α·ⱼ), which sparsifies); "sparsity" is its λ. "penalty" is written only when it is
/// not the default, so a spec without it keeps its JSON (and nodes from before it read it).
/// Unknown layer types and fields are refused with the list of valid ones.
/// </summary>
public static class ModelSpecJson
{
    /// <summary>The fields each layer type accepts (besides "type").</summary>
    public static IReadOnlyDictionary<string, string[]> Fields { get; } = new Dictionary<string, string[]>
    {
        ["conv2d"] = ["in", "out", "kernel", "stride", "pad", "init", "lr_mult"],
        ["mapcombination"] = ["in", "out", "kernel", "pad", "sparsity", "penalty", "init", "lr_mult"],
        ["subsampling"] = ["size", "mode", "activation", "lr_mult"],
        ["maxpool2d"] = ["size"],
        ["avgpool2d"] = ["size"],
        ["dense"] = ["in", "out", "init", "lr_mult"],
        ["sigmoid"] = [],
        ["tanh"] = [],
        ["relu"] = [],
        ["flatten"] = [],
        ["dropout"] = ["p"],
    };

    /// <summary>The values of a map combination's "penalty".</summary>
    public static IReadOnlyDictionary<string, SparsityPenalty> Penalties { get; } = new Dictionary<string, SparsityPenalty>
    {
        ["l1"] = SparsityPenalty.L1,
        ["entropy"] = SparsityPenalty.Entropy,
    };

    private static readonly string[] TopFields = ["name", "input", "classes", "loss", "layers"];

    public static ModelSpec Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelSpecException($"cannot read model spec '{path}': {e.Message}");
        }

        return Parse(text, Path.GetFileNameWithoutExtension(path));
    }

    public static ModelSpec Parse(string json, string defaultName = "custom")
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            throw new ModelSpecException($"model spec is not valid JSON: {e.Message}");
        }

        using (doc)
        {
            JsonElement root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new ModelSpecException("model spec must be a JSON object with \"input\", \"classes\" and \"layers\"");
            }

            CheckFields(root, TopFields, "model spec");
            string name = root.TryGetProperty("name", out JsonElement n) ? String(n, "name") : defaultName;
            Shape3 input = ReadInput(root);
            int classes = root.TryGetProperty("classes", out JsonElement c) ? Int(c, "classes") : 10;
            string loss = root.TryGetProperty("loss", out JsonElement l) ? String(l, "loss") : "softmax_cross_entropy";
            if (!root.TryGetProperty("layers", out JsonElement layers) || layers.ValueKind != JsonValueKind.Array)
            {
                throw new ModelSpecException("model spec needs a \"layers\" array");
            }

            var specs = new List<LayerSpec>();
            int index = 0;
            foreach (JsonElement layer in layers.EnumerateArray())
            {
                specs.Add(ReadLayer(layer, index++));
            }

            return new ModelSpec(name, input, classes, specs, loss);
        }
    }

    public static string Write(ModelSpec spec)
    {
        var layers = new JsonArray();
        foreach (LayerSpec l in spec.Layers)
        {
            var o = new JsonObject { ["type"] = l.Type };
            string[] fields = Fields.TryGetValue(l.Type, out string[]? f) ? f : [];
            foreach (string field in fields)
            {
                JsonNode? value = field switch
                {
                    "in" => l.In,
                    "out" => l.Out,
                    "kernel" => l.Kernel,
                    "stride" => l.Stride,
                    "pad" => l.Pad,
                    "size" => l.Size,
                    "mode" => l.Mode,
                    "activation" => l.Activation,
                    "sparsity" => l.Sparsity,
                    "penalty" => l.Penalty == SparsityPenalty.L1 ? null : Penalties.FirstOrDefault(p => p.Value == l.Penalty).Key ?? l.Penalty.ToString(),
                    "init" => l.Init,
                    "lr_mult" => l.LrMult,
                    "p" => l.P,
                    _ => null,
                };
                if (value is not null)
                {
                    o[field] = value;
                }
            }

            layers.Add(o);
        }

        var root = new JsonObject
        {
            ["name"] = spec.Name,
            ["input"] = new JsonArray(spec.Input.C, spec.Input.H, spec.Input.W),
            ["classes"] = spec.Classes,
            ["loss"] = spec.Loss,
            ["layers"] = layers,
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    private static LayerSpec ReadLayer(JsonElement e, int index)
    {
        string where = $"layer {index}";
        if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty("type", out JsonElement t) || t.ValueKind != JsonValueKind.String)
        {
            throw new ModelSpecException($"{where}: each layer must be an object with a \"type\"; valid types: {string.Join(", ", Fields.Keys)}");
        }

        string type = t.GetString()!;
        if (!Fields.TryGetValue(type, out string[]? allowed))
        {
            throw new ModelSpecException($"{where}: unknown layer type '{type}'; valid types: {string.Join(", ", Fields.Keys)}");
        }

        where = $"layer {index} ({type})";
        CheckFields(e, ["type", .. allowed], where);
        var spec = new LayerSpec(type);
        foreach (JsonProperty p in e.EnumerateObject())
        {
            string f = $"{where} field '{p.Name}'";
            spec = p.Name switch
            {
                "in" => spec with { In = Int(p.Value, f) },
                "out" => spec with { Out = Int(p.Value, f) },
                "kernel" => spec with { Kernel = Int(p.Value, f) },
                "stride" => spec with { Stride = Int(p.Value, f) },
                "pad" => spec with { Pad = Int(p.Value, f) },
                "size" => spec with { Size = Int(p.Value, f) },
                "mode" => spec with { Mode = String(p.Value, f) },
                "activation" => spec with { Activation = String(p.Value, f) },
                "sparsity" => spec with { Sparsity = Float(p.Value, f) },
                "penalty" => spec with { Penalty = Penalty(p.Value, f) },
                "init" => spec with { Init = String(p.Value, f) },
                "lr_mult" => spec with { LrMult = Float(p.Value, f) },
                "p" => spec with { P = Float(p.Value, f) },
                _ => spec,
            };
        }

        return spec;
    }

    private static Shape3 ReadInput(JsonElement root)
    {
        if (!root.TryGetProperty("input", out JsonElement input))
        {
            return new Shape3(1, 28, 28);
        }

        if (input.ValueKind != JsonValueKind.Array || input.GetArrayLength() != 3)
        {
            throw new ModelSpecException("\"input\" must be [channels, height, width], e.g. [1, 28, 28]");
        }

        int[] d = input.EnumerateArray().Select(v => Int(v, "input")).ToArray();
        return new Shape3(d[0], d[1], d[2]);
    }

    private static void CheckFields(JsonElement o, string[] allowed, string where)
    {
        foreach (JsonProperty p in o.EnumerateObject())
        {
            if (!allowed.Contains(p.Name))
            {
                throw new ModelSpecException($"{where}: unknown field '{p.Name}'; valid fields: {string.Join(", ", allowed)}");
            }
        }
    }

    private static int Int(JsonElement v, string what) =>
        v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i) ? i : throw new ModelSpecException($"{what} must be an integer, got {v.GetRawText()}");

    private static float Float(JsonElement v, string what) =>
        v.ValueKind == JsonValueKind.Number ? v.GetSingle() : throw new ModelSpecException($"{what} must be a number, got {v.GetRawText()}");

    private static SparsityPenalty Penalty(JsonElement v, string what) =>
        Penalties.TryGetValue(String(v, what), out SparsityPenalty penalty)
            ? penalty
            : throw new ModelSpecException($"{what}: unknown penalty '{v.GetString()}'; valid penalties: {string.Join(", ", Penalties.Keys)}");

    private static string String(JsonElement v, string what) =>
        v.ValueKind == JsonValueKind.String ? v.GetString()! : throw new ModelSpecException($"{what} must be a string, got {v.GetRawText()}");
}

using CnnCluster.Engine.Layers;
using CnnCluster.Engine.Models;
using Google.Protobuf;
using Onnx;

namespace CnnCluster.Export;

/// <summary>
/// The input normalisation the program applies before the first layer: x = pixel · Scale − Shift with
/// Scale = 1 / (255 · std) and Shift = mean / std, the training set's pixel statistics (scaled to [0, 1]).
/// </summary>
public sealed record InputNormalization(float Mean, float Std)
{
    public float Scale => 1f / (255f * Std);

    public float Shift => Mean / Std;
}

/// <summary>
/// A trained model as an ONNX graph (opset <see cref="Opset"/>), written through OnnxSharp's generated protobuf types:
/// input "pixels" (N, C, H, W) of raw 0–255 values, normalised by the graph's first two nodes as the program does; then one
/// standard operator (or two) per layer; output "logits" (N, classes) and, when asked, "probabilities" (their softmax).
/// conv2d → Conv; mapcombination → Conv with W = α ∘ k, α = softmax(c) computed here as the layer computes it;
/// maxpool2d → MaxPool and avgpool2d → AveragePool (window = stride, a remainder dropped as ours does); subsampling
/// (Bouvrie's y = f(β · down(x) + b)) → a depthwise Conv whose kernel is β (or β / s² for the mean) and bias b, then f;
/// dense → Gemm (B transposed, a Flatten before it when its input is a map); relu / tanh / sigmoid; flatten → Flatten;
/// dropout is the identity at inference and is left out.
/// </summary>
public static class OnnxExport
{
    public const int Opset = 13;
    public const string Input = "pixels";
    public const string Logits = "logits";
    public const string Probabilities = "probabilities";

    public static ModelProto Build(ModelSpec spec, ReadOnlySpan<float> parameters, InputNormalization normalization, IReadOnlyDictionary<string, string> metadata, bool softmax = true)
    {
        Network network = Network.Build(spec);
        if (parameters.Length != network.ParameterCount)
        {
            throw new ArgumentException($"model '{spec.Name}' has {network.ParameterCount} parameters, got {parameters.Length}");
        }

        var g = new GraphBuilder(spec.Name);
        g.Graph.Input.Add(Value(Input, ["N", spec.Input.C, spec.Input.H, spec.Input.W]));
        string x = g.Node("Mul", [Input, g.Scalar("input_scale", normalization.Scale)]);
        x = g.Node("Sub", [x, g.Scalar("input_shift", normalization.Shift)]);
        bool flat = false;
        for (int i = 0; i < network.Layers.Count; i++)
        {
            Layer layer = network.Layers[i];
            LayerSpec s = spec.Layers[i];
            ReadOnlySpan<float> p = parameters.Slice(layer.ParameterOffset, layer.ParameterCount);
            string name = $"l{i}_{s.Type}";
            if (flat && layer is Conv2d or MapCombination or MaxPool2d or AvgPool2d or Subsampling)
            {
                // ours keeps every activation (C, H, W): a map after a flatten or a dense layer is (features, 1, 1)
                x = g.Node("Reshape", [x, g.Longs($"{name}_shape", [-1, layer.Input.C, layer.Input.H, layer.Input.W])], $"{name}_reshape");
                flat = false;
            }

            switch (layer)
            {
                case Conv2d:
                    x = Conv(g, name, x, p[..^layer.Output.C], p[^layer.Output.C..], layer, s.Kernel!.Value, s.Stride, s.Pad, group: 1);
                    break;
                case MapCombination combination:
                {
                    int k = s.Kernel!.Value, kk = k * k, count = layer.Output.C * layer.Input.C;
                    float[] alpha = combination.AlphasOf(p);
                    var weights = new float[count * kk];
                    for (int ji = 0; ji < count; ji++)
                    {
                        for (int t = 0; t < kk; t++)
                        {
                            weights[(ji * kk) + t] = alpha[ji] * p[(ji * kk) + t]; // W_eff[j, i] = α[j, i] · k[j, i], as the layer's forward
                        }
                    }

                    x = Conv(g, name, x, weights, p[^layer.Output.C..], layer, k, 1, s.Pad, group: 1);
                    break;
                }

                case MaxPool2d:
                case AvgPool2d:
                {
                    int size = s.Size!.Value;
                    x = g.Node(layer is MaxPool2d ? "MaxPool" : "AveragePool", [x], name, Ints("kernel_shape", size, size), Ints("strides", size, size));
                    break;
                }

                case Subsampling sub:
                {
                    // u = β · down(x) + b per channel: a depthwise conv with a constant kernel β (sum) or β / s² (mean)
                    int size = s.Size!.Value, c = layer.Input.C;
                    float scale = s.Mode == "mean" ? 1f / (size * size) : 1f;
                    var kernel = new float[c * size * size];
                    for (int ch = 0; ch < c; ch++)
                    {
                        kernel.AsSpan(ch * size * size, size * size).Fill(p[ch] * scale);
                    }

                    x = Conv(g, name, x, kernel, p[c..], layer, size, size, 0, group: c);
                    x = Activation(g, name, x, sub.Activation);
                    break;
                }

                case Dense:
                    if (!flat)
                    {
                        x = g.Node("Flatten", [x], $"{name}_flatten", Int("axis", 1));
                        flat = true;
                    }

                    int outputs = layer.Output.Size;
                    string w = g.Tensor($"{name}_W", p[..^outputs], [outputs, layer.Input.Size]);
                    string b = g.Tensor($"{name}_B", p[^outputs..], [outputs]);
                    x = g.Node("Gemm", [x, w, b], name, Int("transB", 1));
                    break;
                case ActivationLayer act:
                    x = Activation(g, name, x, act.Function);
                    break;
                case Flatten:
                    x = g.Node("Flatten", [x], name, Int("axis", 1));
                    flat = true;
                    break;
                case Dropout:
                    break; // the identity at inference
                default:
                    throw new ArgumentException($"layer {i} ({layer.Describe()}) has no ONNX form");
            }
        }

        if (!flat)
        {
            x = g.Node("Flatten", [x], "logits_flatten", Int("axis", 1));
        }

        g.Rename(x, Logits);
        g.Graph.Output.Add(Value(Logits, ["N", spec.Classes]));
        if (softmax)
        {
            g.Node("Softmax", [Logits], Probabilities, Int("axis", 1));
            g.Graph.Output.Add(Value(Probabilities, ["N", spec.Classes]));
        }

        var model = new ModelProto
        {
            IrVersion = 7, // the IR of opset 13
            ProducerName = "CnnCluster",
            ProducerVersion = typeof(OnnxExport).Assembly.GetName().Version?.ToString() ?? "0",
            Graph = g.Graph,
            DocString = $"{spec.Name}: input 'pixels' (N, {spec.Input.C}, {spec.Input.H}, {spec.Input.W}) of raw 0-255 values; output 'logits' (N, {spec.Classes})" + (softmax ? " and 'probabilities'" : string.Empty),
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = string.Empty, Version = Opset });
        foreach ((string key, string value) in metadata.Append(new("input_mean", normalization.Mean.ToString("R"))).Append(new("input_std", normalization.Std.ToString("R"))))
        {
            model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        }

        return model;
    }

    /// <summary>Writes <see cref="Build"/>'s graph to <paramref name="path"/>; returns its size in bytes.</summary>
    public static long Write(string path, ModelSpec spec, ReadOnlySpan<float> parameters, InputNormalization normalization, IReadOnlyDictionary<string, string> metadata, bool softmax = true)
    {
        ModelProto model = Build(spec, parameters, normalization, metadata, softmax);
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        Directory.CreateDirectory(dir!);
        using (var file = new FileStream(path, FileMode.Create, FileAccess.Write))
        {
            model.WriteTo(file);
        }

        return new FileInfo(path).Length;
    }

    private static string Conv(GraphBuilder g, string name, string x, ReadOnlySpan<float> weights, ReadOnlySpan<float> bias, Layer layer, int kernel, int stride, int pad, int group)
    {
        int inPerGroup = layer.Input.C / group;
        string w = g.Tensor($"{name}_W", weights, [layer.Output.C, inPerGroup, kernel, kernel]);
        string b = g.Tensor($"{name}_B", bias, [layer.Output.C]);
        return g.Node("Conv", [x, w, b], name, Ints("kernel_shape", kernel, kernel), Ints("strides", stride, stride), Ints("pads", pad, pad, pad, pad), Int("group", group));
    }

    private static string Activation(GraphBuilder g, string name, string x, ActivationKind kind) => kind switch
    {
        ActivationKind.None => x,
        ActivationKind.ReLU => g.Node("Relu", [x], $"{name}_relu"),
        ActivationKind.Tanh => g.Node("Tanh", [x], $"{name}_tanh"),
        ActivationKind.Sigmoid => g.Node("Sigmoid", [x], $"{name}_sigmoid"),
        _ => throw new ArgumentException($"activation {kind} has no ONNX form"),
    };

    private static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    private static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.Add(values);
        return a;
    }

    private static ValueInfoProto Value(string name, object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (object d in dims)
        {
            shape.Dim.Add(d is string symbol ? new TensorShapeProto.Types.Dimension { DimParam = symbol } : new TensorShapeProto.Types.Dimension { DimValue = Convert.ToInt64(d) });
        }

        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }
}

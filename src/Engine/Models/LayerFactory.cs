using CnnCluster.Engine.Layers;
using CnnCluster.Engine.Tensors;

namespace CnnCluster.Engine.Models;

/// <summary>Turns one <see cref="LayerSpec"/> into a layer for a given input shape, or says why it does not fit.</summary>
internal static class LayerFactory
{
    /// <param name="index">The layer's position in the model (stochastic layers draw apart by it).</param>
    public static Layer Create(LayerSpec s, Shape3 input, string where, int index)
    {
        void Fail(string why) => throw new ModelSpecException($"{where}: {why} (input {input})");

        int Positive(int? value, string field)
        {
            if (value is null)
            {
                Fail($"'{field}' is required");
            }

            if (value <= 0)
            {
                Fail($"'{field}' must be positive, got {value}");
            }

            return value!.Value;
        }

        void CheckIn(int actual)
        {
            if (s.In is int declared && declared != actual)
            {
                Fail($"declares in={declared} but the previous layer gives {actual}");
            }
        }

        if (!(s.LrMult >= 0f) || float.IsInfinity(s.LrMult))
        {
            Fail($"'lr_mult' must be a finite number >= 0, got {s.LrMult}");
        }

        switch (s.Type)
        {
            case "conv2d":
            case "mapcombination":
            {
                int outC = Positive(s.Out, "out");
                int k = Positive(s.Kernel, "kernel");
                int stride = Positive(s.Stride, "stride");
                if (s.Pad < 0)
                {
                    Fail($"'pad' must be >= 0, got {s.Pad}");
                }

                CheckIn(input.C);
                if (k > input.H + 2 * s.Pad || k > input.W + 2 * s.Pad)
                {
                    Fail($"kernel {k} is larger than the padded input {input.H + 2 * s.Pad}x{input.W + 2 * s.Pad}");
                }

                WeightInit init = ParseInit(s.Init, s.Type == "conv2d" ? WeightInit.He : WeightInit.Glorot, Fail);
                if (s.Type == "conv2d")
                {
                    return new Conv2d(input, outC, k, stride, s.Pad, init);
                }

                if (stride != 1)
                {
                    Fail("mapcombination takes no stride");
                }

                if (s.Sparsity < 0f || !float.IsFinite(s.Sparsity))
                {
                    Fail($"'sparsity' must be a finite number >= 0, got {s.Sparsity}");
                }

                if (!Enum.IsDefined(s.Penalty))
                {
                    Fail($"'penalty' {(int)s.Penalty} is not one of {string.Join(", ", ModelSpecJson.Penalties.Keys)}");
                }

                return new MapCombination(input, outC, k, s.Pad, s.Sparsity, init, s.Penalty);
            }

            case "subsampling":
            case "maxpool2d":
            case "avgpool2d":
            {
                int size = Positive(s.Size, "size");
                if (size > input.H || size > input.W)
                {
                    Fail($"window {size} is larger than the input {input.H}x{input.W}");
                }

                if (s.Type == "maxpool2d")
                {
                    return new MaxPool2d(input, size);
                }

                if (s.Type == "avgpool2d")
                {
                    return new AvgPool2d(input, size);
                }

                SubsamplingMode mode = s.Mode switch
                {
                    "mean" => SubsamplingMode.Mean,
                    "sum" => SubsamplingMode.Sum,
                    _ => throw new ModelSpecException($"{where}: mode '{s.Mode}' is not one of mean, sum"),
                };
                return new Subsampling(input, size, mode, ParseActivation(s.Activation, where));
            }

            case "dense":
                CheckIn(input.Size);
                return new Dense(input, Positive(s.Out, "out"), ParseInit(s.Init, WeightInit.He, Fail));
            case "sigmoid":
                return new ActivationLayer(input, ActivationKind.Sigmoid);
            case "tanh":
                return new ActivationLayer(input, ActivationKind.Tanh);
            case "relu":
                return new ActivationLayer(input, ActivationKind.ReLU);
            case "flatten":
                return new Flatten(input);
            case "dropout":
                float p = s.P ?? throw new ModelSpecException($"{where}: 'p' is required (the probability of dropping a unit, e.g. 0.25)");
                if (!(p >= 0f && p < 1f))
                {
                    Fail($"'p' must be in [0, 1), got {p}");
                }

                return new Dropout(input, p, index);
            default:
                throw new ModelSpecException($"{where}: unknown layer type '{s.Type}'; valid types: {string.Join(", ", ModelSpecJson.Fields.Keys)}");
        }
    }

    private static WeightInit ParseInit(string? init, WeightInit fallback, Action<string> fail)
    {
        switch (init)
        {
            case null:
                return fallback;
            case "he":
                return WeightInit.He;
            case "glorot":
                return WeightInit.Glorot;
            default:
                fail($"init '{init}' is not one of he, glorot");
                return fallback;
        }
    }

    private static ActivationKind ParseActivation(string name, string where) => name switch
    {
        "none" => ActivationKind.None,
        "sigmoid" => ActivationKind.Sigmoid,
        "tanh" => ActivationKind.Tanh,
        "relu" => ActivationKind.ReLU,
        _ => throw new ModelSpecException($"{where}: activation '{name}' is not one of none, sigmoid, tanh, relu"),
    };
}

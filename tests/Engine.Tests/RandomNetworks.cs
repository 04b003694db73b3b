using CnnCluster.Engine.Layers;
using CnnCluster.Engine.Losses;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Tensors;

namespace CnnCluster.Engine.Tests;

/// <summary>
/// Random networks from a seed, for the whole-network oracle (libtorch in float64) and the layer-pair
/// gradient checks: every layer kind in every legal order (network s holds the adjacent pair
/// <see cref="Pairs"/>[s mod count], so any <see cref="Pairs"/>.Count consecutive seeds hold them all),
/// odd and even kernels, paddings, strides, pool remainders, 1–32 maps, per-layer learning rates,
/// both penalties, dropout, both losses. Sizes stay small so that hundreds run in a CI minute.
/// </summary>
public static class RandomNetworks
{
    /// <summary>Every kind a spec can name, in the JSON's words.</summary>
    public static IReadOnlyList<string> Kinds { get; } =
        ["conv2d", "mapcombination", "subsampling", "maxpool2d", "avgpool2d", "dense", "relu", "tanh", "sigmoid", "flatten", "dropout"];

    /// <summary>Every ordered pair of kinds (A then B): each is legal on some shape, since kernel 1 and window 1 fit any input.</summary>
    public static IReadOnlyList<(string A, string B)> Pairs { get; } = [.. Kinds.SelectMany(a => Kinds.Select(b => (a, b)))];

    // activations per sample after a spatial layer stay under this, so a network runs in milliseconds
    private const int ActivationBudget = 2400;

    /// <summary>Network <paramref name="seed"/>: a random prefix, the seed's pair, a random suffix, then a dense head of the classes.</summary>
    public static ModelSpec Generate(int seed)
    {
        var rng = Rng.For(0x0AC1E, (ulong)seed);
        (string a, string b) = Pairs[seed % Pairs.Count];
        int classes = 2 + rng.NextInt(9);
        var input = new Shape3(1 + rng.NextInt(3), 5 + rng.NextInt(10), 5 + rng.NextInt(10));
        var kinds = new List<string>();
        for (int i = rng.NextInt(3); i > 0; i--)
        {
            kinds.Add(Kinds[rng.NextInt(Kinds.Count)]);
        }

        kinds.Add(a);
        kinds.Add(b);
        for (int i = rng.NextInt(3); i > 0; i--)
        {
            kinds.Add(Kinds[rng.NextInt(Kinds.Count)]);
        }

        var layers = new List<LayerSpec>();
        Shape3 shape = input;
        foreach (string kind in kinds)
        {
            LayerSpec layer = Draw(kind, shape, rng);
            layers.Add(layer);
            shape = OutputOf(layer, shape);
        }

        layers.Add(new LayerSpec("dense") { Out = classes, LrMult = LearningRate(rng) });
        bool squared = rng.NextInt(4) == 0;
        if (rng.NextInt(4) == 0)
        {
            // something between the head's dense layer and the loss: an activation or a dropout
            string[] tails = ["relu", "tanh", "sigmoid", "dropout"];
            layers.Add(Draw(tails[rng.NextInt(tails.Length)], new Shape3(classes, 1, 1), rng));
        }

        return new ModelSpec($"random-{seed}", input, classes, layers, squared ? MeanSquaredError.SpecName : SoftmaxCrossEntropy.SpecName);
    }

    /// <summary>A layer of <paramref name="kind"/> that fits <paramref name="shape"/>, its fields drawn.</summary>
    public static LayerSpec Draw(string kind, Shape3 shape, Rng rng)
    {
        int side = Math.Min(shape.H, shape.W);
        switch (kind)
        {
            case "conv2d":
            case "mapcombination":
            {
                int pad = rng.NextInt(3);
                int kernel = 1 + rng.NextInt(Math.Min(5, side + (2 * pad)));
                int stride = kind == "conv2d" ? 1 + rng.NextInt(3) : 1;
                int outH = ((shape.H + (2 * pad) - kernel) / stride) + 1, outW = ((shape.W + (2 * pad) - kernel) / stride) + 1;
                int maps = Math.Clamp(ActivationBudget / (outH * outW), 1, 1 + rng.NextInt(32));
                var layer = new LayerSpec(kind) { Out = maps, Kernel = kernel, Pad = pad, Stride = stride, LrMult = LearningRate(rng) };
                if (kind == "mapcombination")
                {
                    float[] lambdas = [0f, 0.01f, 0.2f];
                    layer = layer with { Sparsity = lambdas[rng.NextInt(3)], Penalty = rng.NextInt(2) == 0 ? SparsityPenalty.L1 : SparsityPenalty.Entropy };
                }

                return layer;
            }

            case "subsampling":
            {
                string[] activations = ["none", "sigmoid", "tanh", "relu"];
                return new LayerSpec(kind) { Size = Window(side, rng), Mode = rng.NextInt(2) == 0 ? "mean" : "sum", Activation = activations[rng.NextInt(4)], LrMult = LearningRate(rng) };
            }

            case "maxpool2d":
            case "avgpool2d":
                return new LayerSpec(kind) { Size = Window(side, rng) };
            case "dense":
                return new LayerSpec(kind) { Out = 1 + rng.NextInt(32), LrMult = LearningRate(rng) };
            case "dropout":
                float[] rates = [0f, 0.2f, 0.5f];
                return new LayerSpec(kind) { P = rates[rng.NextInt(3)] };
            default:
                return new LayerSpec(kind);
        }
    }

    /// <summary>The layer's output shape, by the same arithmetic as the layers' own (floor for strides and windows).</summary>
    public static Shape3 OutputOf(LayerSpec layer, Shape3 shape) => layer.Type switch
    {
        "conv2d" or "mapcombination" => new Shape3(
            layer.Out!.Value,
            ((shape.H + (2 * layer.Pad) - layer.Kernel!.Value) / layer.Stride) + 1,
            ((shape.W + (2 * layer.Pad) - layer.Kernel!.Value) / layer.Stride) + 1),
        "subsampling" or "maxpool2d" or "avgpool2d" => new Shape3(shape.C, shape.H / layer.Size!.Value, shape.W / layer.Size!.Value),
        "dense" => new Shape3(layer.Out!.Value, 1, 1),
        "flatten" => new Shape3(shape.Size, 1, 1),
        _ => shape,
    };

    // a window of 2 or 3 where it fits (often leaving a remainder), else 1
    private static int Window(int side, Rng rng) => side < 2 ? 1 : 2 + rng.NextInt(Math.Min(2, side - 1));

    // mostly the rate itself; sometimes a layer learns faster, slower or not at all
    private static float LearningRate(Rng rng)
    {
        float[] multipliers = [1f, 1f, 1f, 0.5f, 2f, 0f];
        return multipliers[rng.NextInt(multipliers.Length)];
    }
}

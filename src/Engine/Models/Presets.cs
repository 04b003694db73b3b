using CnnCluster.Engine.Layers;
using CnnCluster.Engine.Tensors;

namespace CnnCluster.Engine.Models;

/// <summary>The built-in networks, for 1×28×28 inputs and 10 classes (MNIST / Fashion-MNIST).</summary>
public static class Presets
{
    public static IReadOnlyList<string> Names { get; } = ["lenet5", "bouvrie", "convnet"];

    /// <summary>
    /// LeNet-5 with ReLU and max pooling: conv 1→6 k5 p2, ReLU, maxpool 2, conv 6→16 k5, ReLU, maxpool 2,
    /// dense 400→120, ReLU, dense 120→84, ReLU, dense 84→10, softmax cross-entropy. 61,706 parameters.
    /// </summary>
    public static ModelSpec LeNet5 { get; } = new(
        "lenet5",
        new Shape3(1, 28, 28),
        10,
        [
            new("conv2d") { Out = 6, Kernel = 5, Pad = 2 },
            new("relu"),
            new("maxpool2d") { Size = 2 },
            new("conv2d") { Out = 16, Kernel = 5 },
            new("relu"),
            new("maxpool2d") { Size = 2 },
            new("flatten"),
            new("dense") { Out = 120 },
            new("relu"),
            new("dense") { Out = 84 },
            new("relu"),
            new("dense") { Out = 10 },
        ]);

    /// <summary>
    /// The article's network: conv → tanh → subsampling (β, b, tanh) → MapCombination conv with a
    /// sparsity penalty on α → tanh → subsampling (β, b, tanh) → dense → softmax cross-entropy. The
    /// penalty is the entropy of α with λ 0.05, not the article's L1 (a constant for a softmax, which left
    /// α uniform): measured over 3 epochs of the `train` defaults, it takes the fraction of α below 0.05
    /// from 0 to about a third (0 → 20% → 34% for seed 1) with test accuracy within 0.2 points of the run
    /// without a penalty (seeds 1–3); λ 0.1 makes every output map take one input map by the second
    /// epoch (the most there can be, 7 of 8 α below 0.05), λ ≤ 0.03 leaves α nearly uniform (README).
    /// </summary>
    public static ModelSpec Bouvrie { get; } = new(
        "bouvrie",
        new Shape3(1, 28, 28),
        10,
        [
            new("conv2d") { Out = 8, Kernel = 5, Pad = 2, Init = "glorot" },
            new("tanh"),
            new("subsampling") { Size = 2, Mode = "mean", Activation = "tanh" },
            new("mapcombination") { Out = 16, Kernel = 5, Sparsity = 0.05f, Penalty = SparsityPenalty.Entropy, Init = "glorot" },
            new("tanh"),
            new("subsampling") { Size = 2, Mode = "mean", Activation = "tanh" },
            new("dense") { Out = 10, Init = "glorot" },
        ]);

    /// <summary>
    /// A small VGG-style network for accuracy within minutes on a CPU: three blocks of conv 3×3 (pad 1), ReLU
    /// and max pooling (32, 48, 96 maps: 28→14→7→3), then dense 864→256, ReLU, dropout 0.3, dense 256→10;
    /// 5.2 M multiply-adds per image forward, 279,770 parameters. It trains with its own recipe (the
    /// coordinator's ModelRecipes), measured in README.
    /// </summary>
    public static ModelSpec ConvNet { get; } = new(
        "convnet",
        new Shape3(1, 28, 28),
        10,
        [
            new("conv2d") { Out = 32, Kernel = 3, Pad = 1 },
            new("relu"),
            new("maxpool2d") { Size = 2 },
            new("conv2d") { Out = 48, Kernel = 3, Pad = 1 },
            new("relu"),
            new("maxpool2d") { Size = 2 },
            new("conv2d") { Out = 96, Kernel = 3, Pad = 1 },
            new("relu"),
            new("maxpool2d") { Size = 2 },
            new("flatten"),
            new("dense") { Out = 256 },
            new("relu"),
            new("dropout") { P = 0.3f },
            new("dense") { Out = 10 },
        ]);

    public static ModelSpec? Find(string name) => name.ToLowerInvariant() switch
    {
        "lenet5" => LeNet5,
        "bouvrie" => Bouvrie,
        "convnet" => ConvNet,
        _ => null,
    };
}

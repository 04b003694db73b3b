using CnnCluster.Engine.Layers;
using CnnCluster.Engine.Tensors;

namespace CnnCluster.Engine.Models;

/// <summary>
/// A network as data: input shape, class count, a chain of layers and a loss head. Presets are specs,
/// and custom networks are read from JSON (<see cref="ModelSpecJson"/>). <see cref="Network.Build"/>
/// checks that the shapes chain.
/// </summary>
public sealed record ModelSpec(string Name, Shape3 Input, int Classes, IReadOnlyList<LayerSpec> Layers, string Loss = "softmax_cross_entropy");

/// <summary>
/// One layer of a spec. Which fields a type takes is listed in <see cref="ModelSpecJson"/>; unset
/// optional fields keep these defaults.
/// </summary>
public sealed record LayerSpec(string Type)
{
    /// <summary>Input channels / features, optional: when given it must match the previous layer.</summary>
    public int? In { get; init; }

    public int? Out { get; init; }

    public int? Kernel { get; init; }

    public int Stride { get; init; } = 1;

    public int Pad { get; init; }

    public int? Size { get; init; }

    public string Mode { get; init; } = "mean";

    public string Activation { get; init; } = "none";

    /// <summary>Map combination: λ of the penalty on α (0: none).</summary>
    public float Sparsity { get; init; }

    /// <summary>Map combination: which penalty λ weighs (JSON "penalty": "l1", the default, or "entropy").</summary>
    public SparsityPenalty Penalty { get; init; } = SparsityPenalty.L1;

    public string? Init { get; init; }

    public float LrMult { get; init; } = 1f;

    /// <summary>Dropout: the probability that a unit is dropped at training, in [0, 1).</summary>
    public float? P { get; init; }
}

using CnnCluster.Engine.Layers;
using CnnCluster.Engine.Losses;
using CnnCluster.Engine.Tensors;

namespace CnnCluster.Engine.Models;

/// <summary>
/// A built model: the layer chain with every shape resolved, the loss head, and the layout of the one
/// flat parameter buffer (each layer's slice at <see cref="Layer.ParameterOffset"/>). Immutable and
/// shared by all threads; the buffers live in <see cref="Training.Workspace"/> and in the trainer.
/// </summary>
public sealed class Network
{
    private Network(ModelSpec spec, IReadOnlyList<Layer> layers, ILossHead head)
    {
        Spec = spec;
        Layers = layers;
        Head = head;
        int offset = 0;
        foreach (Layer layer in layers)
        {
            layer.ParameterOffset = offset;
            offset += layer.ParameterCount;
        }

        ParameterCount = offset;
    }

    public ModelSpec Spec { get; }

    public IReadOnlyList<Layer> Layers { get; }

    public ILossHead Head { get; }

    public int ParameterCount { get; }

    public Shape3 Input => Spec.Input;

    public int Classes => Spec.Classes;

    /// <summary>Builds and checks a spec; a layer that does not fit throws a <see cref="ModelSpecException"/> naming it.</summary>
    public static Network Build(ModelSpec spec) => Build(spec, null);

    /// <summary>
    /// The same, each built layer passed through <paramref name="decorate"/> (its index, the layer) first:
    /// the mutation tests put a deliberately wrong backward pass around one layer to show the suites catch it.
    /// </summary>
    internal static Network Build(ModelSpec spec, Func<int, Layer, Layer>? decorate)
    {
        if (spec.Input.C <= 0 || spec.Input.H <= 0 || spec.Input.W <= 0)
        {
            throw new ModelSpecException($"model '{spec.Name}': input shape {spec.Input} must have positive channels, height and width");
        }

        if (spec.Classes < 2)
        {
            throw new ModelSpecException($"model '{spec.Name}': classes is {spec.Classes}; a classifier needs at least 2");
        }

        if (spec.Layers.Count == 0)
        {
            throw new ModelSpecException($"model '{spec.Name}': no layers");
        }

        ModelBudget.Check(spec);
        ILossHead head;
        try
        {
            head = LossHeads.Create(spec.Loss);
        }
        catch (ArgumentException e)
        {
            throw new ModelSpecException($"model '{spec.Name}': {e.Message}");
        }

        var layers = new List<Layer>();
        Shape3 shape = spec.Input;
        for (int i = 0; i < spec.Layers.Count; i++)
        {
            Layer layer = LayerFactory.Create(spec.Layers[i], shape, $"model '{spec.Name}' layer {i} ({spec.Layers[i].Type})", i);
            layer = decorate?.Invoke(i, layer) ?? layer;
            layer.LearningRateMultiplier = spec.Layers[i].LrMult;
            layers.Add(layer);
            shape = layer.Output;
        }

        if (shape.Size != spec.Classes)
        {
            Layer last = layers[^1];
            throw new ModelSpecException(
                $"model '{spec.Name}' layer {layers.Count - 1} ({last.Describe()}): outputs {shape} = {shape.Size} values but the model has {spec.Classes} classes; end with a dense layer of out {spec.Classes}");
        }

        return new Network(spec, layers, head);
    }

    /// <summary>Fresh parameters from the seed; layer i draws from its own stream (seed, i).</summary>
    public float[] InitialParameters(ulong seed)
    {
        var p = new float[ParameterCount];
        for (int i = 0; i < Layers.Count; i++)
        {
            Layer layer = Layers[i];
            layer.Initialize(p.AsSpan(layer.ParameterOffset, layer.ParameterCount), Rng.For(seed, (ulong)i));
        }

        return p;
    }

    /// <summary>Adds every layer's parameter-penalty gradient into g; returns the total penalty.</summary>
    public double Regularize(ReadOnlySpan<float> p, Span<float> g) => Regularize(p, g, ParameterSlice.All(p.Length));

    /// <summary>
    /// Adds the penalty gradient of the parameters in <paramref name="slice"/> into g (g[0] is parameter
    /// slice.Start), computed from all of p (a penalty may couple a layer's parameters across slices);
    /// returns the whole network's penalty.
    /// </summary>
    public double Regularize(ReadOnlySpan<float> p, Span<float> g, ParameterSlice slice)
    {
        double total = 0;
        foreach (Layer layer in Layers)
        {
            if (layer.ParameterCount > 0)
            {
                // a layer outside the slice still counts in the penalty, with an empty window
                Span<float> window = [];
                int windowStart = 0;
                if (slice.Within(layer.ParameterOffset, layer.ParameterCount) is { } part)
                {
                    window = g.Slice(part.Start - slice.Start, part.Count);
                    windowStart = part.Start - layer.ParameterOffset;
                }

                total += layer.Regularize(p.Slice(layer.ParameterOffset, layer.ParameterCount), window, windowStart);
            }
        }

        return total;
    }

    /// <summary>
    /// The fraction of all map-combination weights α (every <see cref="MapCombination"/> layer's, counted
    /// together) below <see cref="MapCombination.SparseAlpha"/> for parameters p; null for a model
    /// without map combinations. How sparse the learned combinations are, reported with each epoch.
    /// </summary>
    public double? SparseAlphaFraction(ReadOnlySpan<float> p)
    {
        int sparse = 0, all = 0;
        foreach (Layer layer in Layers)
        {
            if (layer is MapCombination m)
            {
                sparse += m.CountSparse(p.Slice(m.ParameterOffset, m.ParameterCount));
                all += m.AlphaCount;
            }
        }

        return all == 0 ? null : (double)sparse / all;
    }

    public string Describe() =>
        $"{Spec.Name}: {string.Join(" -> ", Layers.Select(l => l.Describe()))} -> {Head.Name} ({ParameterCount:N0} parameters)";
}

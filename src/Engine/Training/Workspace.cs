using CnnCluster.Engine.Data;
using CnnCluster.Engine.Layers;
using CnnCluster.Engine.Models;

namespace CnnCluster.Engine.Training;

/// <summary>
/// One thread's memory for forward and backward passes of up to <see cref="Capacity"/> samples:
/// activations at every layer boundary, two delta buffers, per-layer scratch, labels. Allocated once,
/// reused for every micro-shard, so a training step allocates nothing. It also holds the pass of the
/// loaded samples (<see cref="PassContext"/>) and their global indices, which augmentation and stochastic
/// layers draw from.
/// </summary>
public sealed class Workspace
{
    private readonly float[][] _activations;
    private readonly float[][] _scratch;
    private readonly float[] _deltaA;
    private readonly float[] _deltaB;
    private readonly int[] _labels;
    private readonly int[] _indices;
    private readonly float[] _imageCopy;
    private readonly ConvReluPool?[] _stages; // per layer: the fused stage it starts, if any
    private PassContext _pass;

    public Workspace(Network network, int capacity)
        : this(network, capacity, fuse: true)
    {
    }

    /// <param name="network">The network.</param>
    /// <param name="capacity">Samples of one pass at most.</param>
    /// <param name="fuse">Run conv, ReLU, 2×2 max pool as one stage (the same bits; tests and benchmarks turn it off to compare).</param>
    internal Workspace(Network network, int capacity, bool fuse)
    {
        Network = network;
        Capacity = capacity;
        IReadOnlyList<Layer> layers = network.Layers;
        _activations = new float[layers.Count + 1][];
        _activations[0] = new float[capacity * network.Input.Size];
        int maxSize = network.Input.Size;
        for (int i = 0; i < layers.Count; i++)
        {
            _activations[i + 1] = new float[capacity * layers[i].Output.Size];
            maxSize = Math.Max(maxSize, layers[i].Output.Size);
        }

        _scratch = layers.Select(l => new float[l.ScratchSize(capacity)]).ToArray();
        _deltaA = new float[capacity * maxSize];
        _deltaB = new float[capacity * maxSize];
        _labels = new int[capacity];
        _indices = new int[capacity];
        _imageCopy = new float[network.Input.Size];
        _stages = new ConvReluPool?[layers.Count];
        for (int i = 0; fuse && i < layers.Count; i++)
        {
            if ((_stages[i] = ConvReluPool.At(layers, i)) is not null)
            {
                i += ConvReluPool.Layers - 1;
            }
        }
    }

    public Network Network { get; }

    public int Capacity { get; }

    /// <summary>The network's output (n, classes) after <see cref="Forward"/>.</summary>
    public ReadOnlySpan<float> Output(int n) => _activations[^1].AsSpan(0, n * Network.Classes);

    public ReadOnlySpan<int> Labels(int n) => _labels.AsSpan(0, n);

    /// <summary>The loaded input (n, C, H, W), as the first layer sees it (augmented, when the pass asks).</summary>
    public ReadOnlySpan<float> Input(int n) => _activations[0].AsSpan(0, n * Network.Input.Size);

    /// <summary>Loads samples into the input buffer for <paramref name="pass"/>, augmented when it asks (training only).</summary>
    public void Load(LabeledImages data, ReadOnlySpan<int> indices, PassContext pass)
    {
        int size = Network.Input.Size;
        Span<float> x = _activations[0].AsSpan(0, indices.Length * size);
        data.Load(indices, x, _labels);
        indices.CopyTo(_indices);
        _pass = pass;
        if (pass.Training && pass.Augment)
        {
            for (int s = 0; s < indices.Length; s++)
            {
                Augmentation.Apply(Augmentation.For(pass.Seed, pass.Epoch, indices[s]), Network.Input, x.Slice(s * size, size), data.Background, _imageCopy);
            }
        }
    }

    /// <summary>Loads samples first..first+n of the set (in order), e.g. for evaluation.</summary>
    public void LoadRange(LabeledImages data, int first, int n)
    {
        for (int i = 0; i < n; i++)
        {
            _indices[i] = first + i;
        }

        Load(data, _indices.AsSpan(0, n), PassContext.Evaluation);
    }

    /// <summary>
    /// Sets the input directly (tests, gradient checks): x is (n, C, H, W), samples 0..n-1 of
    /// <paramref name="pass"/> (default: evaluation).
    /// </summary>
    public void SetInput(ReadOnlySpan<float> x, ReadOnlySpan<int> labels, PassContext pass = default)
    {
        x.CopyTo(_activations[0]);
        labels.CopyTo(_labels);
        for (int i = 0; i < labels.Length; i++)
        {
            _indices[i] = i;
        }

        _pass = pass;
    }

    public void Forward(ReadOnlySpan<float> parameters, int n)
    {
        IReadOnlyList<Layer> layers = Network.Layers;
        for (int i = 0; i < layers.Count; i++)
        {
            Layer l = layers[i];
            l.DrawNoise(n, _pass, _indices.AsSpan(0, n), _scratch[i]);
            if (_stages[i] is { } stage)
            {
                int last = i + ConvReluPool.Layers - 1;
                stage.Forward(n, _activations[i].AsSpan(0, n * l.Input.Size), _activations[last + 1].AsSpan(0, n * layers[last].Output.Size), parameters.Slice(l.ParameterOffset, l.ParameterCount), _scratch[i], _scratch[last]);
                i = last;
                continue;
            }

            l.Forward(
                n,
                _activations[i].AsSpan(0, n * l.Input.Size),
                _activations[i + 1].AsSpan(0, n * l.Output.Size),
                parameters.Slice(l.ParameterOffset, l.ParameterCount),
                _scratch[i]);
        }
    }

    /// <summary>Σ loss of the loaded samples, without gradients.</summary>
    public double Loss(ReadOnlySpan<float> parameters, int n)
    {
        Forward(parameters, n);
        return Network.Head.Forward(n, Network.Classes, Output(n), Labels(n), Span<float>.Empty);
    }

    /// <summary>
    /// Forward and backward over the n loaded samples: adds ∂(Σ loss)/∂p into <paramref name="gradient"/>
    /// and returns Σ loss. Data terms only: penalties are added once per step by the trainer.
    /// </summary>
    public double ForwardBackward(ReadOnlySpan<float> parameters, Span<float> gradient, int n)
    {
        Forward(parameters, n);
        IReadOnlyList<Layer> layers = Network.Layers;
        Span<float> delta = _deltaA.AsSpan(0, n * Network.Classes);
        double loss = Network.Head.Forward(n, Network.Classes, Output(n), Labels(n), delta);
        float[] dy = _deltaA, dx = _deltaB;
        for (int i = layers.Count - 1; i >= 0; i--)
        {
            int first = i - ConvReluPool.Layers + 1;
            if (first >= 0 && _stages[first] is { } stage)
            {
                Layer conv = layers[first];
                stage.Backward(
                    n,
                    _activations[first].AsSpan(0, n * conv.Input.Size),
                    _activations[i + 1].AsSpan(0, n * layers[i].Output.Size),
                    dy.AsSpan(0, n * layers[i].Output.Size),
                    first == 0 ? Span<float>.Empty : dx.AsSpan(0, n * conv.Input.Size),
                    parameters.Slice(conv.ParameterOffset, conv.ParameterCount),
                    gradient.Slice(conv.ParameterOffset, conv.ParameterCount),
                    _scratch[first],
                    _scratch[i]);
                (dy, dx) = (dx, dy);
                i = first;
                continue;
            }

            Layer l = layers[i];
            Span<float> dxSpan = i == 0 ? Span<float>.Empty : dx.AsSpan(0, n * l.Input.Size);
            l.Backward(
                n,
                _activations[i].AsSpan(0, n * l.Input.Size),
                _activations[i + 1].AsSpan(0, n * l.Output.Size),
                dy.AsSpan(0, n * l.Output.Size),
                dxSpan,
                parameters.Slice(l.ParameterOffset, l.ParameterCount),
                gradient.Slice(l.ParameterOffset, l.ParameterCount),
                _scratch[i]);
            (dy, dx) = (dx, dy);
        }

        return loss;
    }
}

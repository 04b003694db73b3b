using CnnCluster.Engine.Data;
using CnnCluster.Engine.Layers;
using CnnCluster.Engine.Losses;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Optim;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace CnnCluster.Engine.OracleTests;

/// <summary>
/// Any of our networks rebuilt from its spec in libtorch, in float64, with libtorch's autograd in place of
/// our backward passes: conv2d is torch's conv2d; a map combination is one conv2d whose kernel is
/// softmax(c) over the input maps times k; Bouvrie's subsampling is β · (the n×n block mean, or sum) + b
/// then its activation; pools, dense, activations and flatten are torch's own; a dropout multiplies by
/// our layer's mask for the step (drawn by <see cref="Layer.DrawNoise"/>), and augmentation shifts and
/// flips the images by <see cref="Augmentation.For"/>'s draw, written here with torch's flip and pad.
/// The loss is the batch mean plus the map combinations' penalties, and the update is SGD as
/// <see cref="Sgd"/> states it (weight decay, momentum or Nesterov, per-layer rate multipliers), in double.
/// The parameters start as copies of ours; nothing else of ours is used but the masks and the draws.
/// </summary>
public sealed class TorchNetwork
{
    private readonly Network _network;
    private readonly SgdOptions _sgd;
    private readonly double[][] _parameters; // per tensor, in our flat order
    private readonly double[][] _velocity;

    public TorchNetwork(Network network, ReadOnlySpan<float> parameters, SgdOptions sgd)
    {
        _network = network;
        _sgd = sgd;
        Tensors = TensorsOf(network);
        _parameters = new double[Tensors.Count][];
        for (int t = 0; t < Tensors.Count; t++)
        {
            _parameters[t] = [.. parameters.Slice(Tensors[t].Offset, Tensors[t].Length).ToArray().Select(v => (double)v)];
        }

        _velocity = Tensors.Select(t => new double[t.Length]).ToArray();
    }

    /// <summary>One parameter tensor: where it lives in our flat buffer, its torch shape, its name and its layer.</summary>
    public sealed record ParameterTensor(int Layer, string Name, int Offset, long[] Shape)
    {
        public int Length => (int)Shape.Aggregate(1L, (a, b) => a * b);
    }

    public IReadOnlyList<ParameterTensor> Tensors { get; }

    /// <summary>The current parameters of tensor t.</summary>
    public double[] Parameters(int t) => _parameters[t];

    /// <summary>
    /// One SGD step on the samples <paramref name="batch"/> of <paramref name="data"/> in
    /// <paramref name="pass"/>, at <paramref name="learningRate"/>; returns the step's loss (batch mean
    /// plus penalties, before the update).
    /// </summary>
    public double Step(LabeledImages data, ReadOnlySpan<int> batch, PassContext pass, double learningRate)
    {
        using var scope = NewDisposeScope();
        Tensor[] leaves = [.. Tensors.Select((t, i) => tensor(_parameters[i], t.Shape, float64).requires_grad_(true))];
        Tensor x = Images(data, batch, pass);
        int n = batch.Length;
        for (int i = 0; i < _network.Layers.Count; i++)
        {
            // every layer sees (n, C, H, W) as ours do: a dense layer's output is (n, out, 1, 1)
            Layer layer = _network.Layers[i];
            x = Forward(i, x.reshape(n, layer.Input.C, layer.Input.H, layer.Input.W), leaves, batch, pass);
        }

        Tensor loss = Head(x.reshape(n, -1), data, batch) / n;
        for (int i = 0; i < _network.Layers.Count; i++)
        {
            if (Penalty(i, leaves) is { } penalty)
            {
                loss = loss + penalty;
            }
        }

        loss.backward();
        double value = loss.item<double>();
        for (int t = 0; t < Tensors.Count; t++)
        {
            double[] g = leaves[t].grad!.contiguous().data<double>().ToArray();
            Update(t, g, learningRate * _network.Layers[Tensors[t].Layer].LearningRateMultiplier);
        }

        return value;
    }

    // g ← g + wd·p;  v ← μ·v + g;  p ← p − η·m·(nesterov ? g + μ·v : v)
    private void Update(int t, double[] g, double rate)
    {
        double[] p = _parameters[t], v = _velocity[t];
        for (int i = 0; i < p.Length; i++)
        {
            double gi = g[i] + (_sgd.WeightDecay * p[i]);
            v[i] = (_sgd.Momentum * v[i]) + gi;
            p[i] -= rate * (_sgd.Nesterov ? gi + (_sgd.Momentum * v[i]) : v[i]);
        }
    }

    private Tensor Forward(int i, Tensor x, Tensor[] leaves, ReadOnlySpan<int> batch, PassContext pass)
    {
        LayerSpec s = _network.Spec.Layers[i];
        Tensor[] p = LayerLeaves(i, leaves);
        switch (s.Type)
        {
            case "conv2d":
                return F.conv2d(x, p[0], p[1], strides: [s.Stride, s.Stride], padding: [s.Pad, s.Pad]);
            case "mapcombination":
            {
                // W[j, i] = softmax over i of c[j, ·] times k[j, i]
                Tensor alpha = F.softmax(p[1], 1);
                return F.conv2d(x, p[0] * alpha.unsqueeze(-1).unsqueeze(-1), p[2], padding: [s.Pad, s.Pad]);
            }

            case "subsampling":
            {
                int size = s.Size!.Value;
                Tensor down = F.avg_pool2d(x, [size, size]);
                if (s.Mode == "sum")
                {
                    down = down * (size * size);
                }

                return Activation(s.Activation, (down * p[0].view(1, -1, 1, 1)) + p[1].view(1, -1, 1, 1));
            }

            case "maxpool2d":
                return F.max_pool2d(x, [s.Size!.Value, s.Size!.Value]);
            case "avgpool2d":
                return F.avg_pool2d(x, [s.Size!.Value, s.Size!.Value]);
            case "dense":
                return F.linear(x.reshape(x.shape[0], -1), p[0], p[1]);
            case "relu":
            case "tanh":
            case "sigmoid":
                return Activation(s.Type, x);
            case "flatten":
                return x.reshape(x.shape[0], -1);
            case "dropout":
            {
                Layer layer = _network.Layers[i];
                var mask = new float[layer.ScratchSize(batch.Length)];
                layer.DrawNoise(batch.Length, pass, batch, mask);
                return x * tensor(mask.Select(m => (double)m).ToArray(), x.shape, float64);
            }

            default:
                throw new NotSupportedException($"the oracle has no form of layer type '{s.Type}'");
        }
    }

    // layer i's parameter tensors, in our flat order (conv: w, b; map combination: k, c, b; ...)
    private Tensor[] LayerLeaves(int i, Tensor[] leaves) => [.. Enumerable.Range(0, Tensors.Count).Where(t => Tensors[t].Layer == i).Select(t => leaves[t])];

    private static Tensor Activation(string name, Tensor u) => name switch
    {
        "relu" => F.relu(u),
        "tanh" => u.tanh(),
        "sigmoid" => u.sigmoid(),
        _ => u,
    };

    // Σ over the batch: cross-entropy, or ½ Σ (y − one-hot)²
    private Tensor Head(Tensor z, LabeledImages data, ReadOnlySpan<int> batch)
    {
        long[] labels = [.. batch.ToArray().Select(b => (long)data.Labels[b])];
        Tensor y = tensor(labels);
        if (_network.Spec.Loss == MeanSquaredError.SpecName)
        {
            Tensor diff = z - F.one_hot(y, _network.Classes).to(float64);
            return 0.5 * (diff * diff).sum();
        }

        return F.cross_entropy(z, y, reduction: nn.Reduction.Sum);
    }

    // λ Σ|α| or λ Σ_j H(α·ⱼ), α = softmax(c) per output map (the log of max(α, our floor), as ours)
    private Tensor? Penalty(int i, Tensor[] leaves)
    {
        LayerSpec s = _network.Spec.Layers[i];
        if (s.Type != "mapcombination" || s.Sparsity == 0f)
        {
            return null;
        }

        Tensor alpha = F.softmax(LayerLeaves(i, leaves)[1], 1); // k, c, b: c
        Tensor omega = s.Penalty == SparsityPenalty.Entropy
            ? -(alpha * alpha.clamp_min(MapCombination.LogFloor).log()).sum()
            : alpha.abs().sum();
        return s.Sparsity * omega;
    }

    // the images of the batch as float64 from the bytes, (pixel / 255 − mean) / std, transformed when the pass augments
    private static Tensor Images(LabeledImages data, ReadOnlySpan<int> batch, PassContext pass)
    {
        int size = data.Shape.Size;
        var values = new double[batch.Length * size];
        for (int s = 0; s < batch.Length; s++)
        {
            for (int i = 0; i < size; i++)
            {
                values[(s * size) + i] = ((data.Pixels[(batch[s] * size) + i] / 255.0) - data.Mean) / data.Std;
            }
        }

        var shape = new long[] { 1, data.Shape.C, data.Shape.H, data.Shape.W };
        var images = new Tensor[batch.Length];
        double background = -data.Mean / (double)data.Std;
        for (int s = 0; s < batch.Length; s++)
        {
            Tensor image = tensor(values.AsSpan(s * size, size).ToArray(), shape, float64);
            Augmentation.Transform t = Augmentation.For(pass.Seed, pass.Epoch, batch[s]);
            if (pass.Training && pass.Augment && t != default)
            {
                // out[y, x] = flipped[y − Dy, x − Dx], the background where that falls outside
                const int m = Augmentation.MaxShift;
                Tensor flipped = t.Flip ? image.flip(-1) : image;
                Tensor padded = F.pad(flipped, [m, m, m, m], value: background);
                image = padded[.., .., (m - t.Dy)..(m - t.Dy + data.Shape.H), (m - t.Dx)..(m - t.Dx + data.Shape.W)];
            }

            images[s] = image;
        }

        return cat(images, 0);
    }

    private static ParameterTensor[] TensorsOf(Network network)
    {
        var tensors = new List<ParameterTensor>();
        for (int i = 0; i < network.Layers.Count; i++)
        {
            Layer layer = network.Layers[i];
            LayerSpec s = network.Spec.Layers[i];
            int at = layer.ParameterOffset;
            void Add(string name, params long[] shape)
            {
                var t = new ParameterTensor(i, name, at, shape);
                tensors.Add(t);
                at += t.Length;
            }

            switch (s.Type)
            {
                case "conv2d":
                    Add("w", s.Out!.Value, layer.Input.C, s.Kernel!.Value, s.Kernel!.Value);
                    Add("b", s.Out!.Value);
                    break;
                case "mapcombination":
                    Add("k", s.Out!.Value, layer.Input.C, s.Kernel!.Value, s.Kernel!.Value);
                    Add("c", s.Out!.Value, layer.Input.C);
                    Add("b", s.Out!.Value);
                    break;
                case "subsampling":
                    Add("beta", layer.Input.C);
                    Add("b", layer.Input.C);
                    break;
                case "dense":
                    Add("W", s.Out!.Value, layer.Input.Size);
                    Add("b", s.Out!.Value);
                    break;
            }

            if (at != layer.ParameterOffset + layer.ParameterCount)
            {
                throw new InvalidOperationException($"layer {i} ({layer.Describe()}): the oracle's tensors cover {at - layer.ParameterOffset} of its {layer.ParameterCount} parameters");
            }
        }

        return [.. tensors];
    }
}

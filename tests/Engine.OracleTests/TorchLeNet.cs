using CnnCluster.Engine.Layers;
using CnnCluster.Engine.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace CnnCluster.Engine.OracleTests;

/// <summary>
/// lenet5 in libtorch (TorchSharp): the same layers as our preset, initial weights copied from our flat
/// parameter buffer (conv w (K, C, k, k) then b; dense W (out, in) then b: torch's layouts), SGD with
/// the same momentum and weight decay, mean cross-entropy over the batch.
/// </summary>
public sealed class TorchLeNet : IDisposable
{
    private readonly nn.Module<Tensor, Tensor> _model;
    private readonly optim.Optimizer _optimizer;
    private readonly Tensor _images;
    private readonly Tensor _labels;

    public TorchLeNet(Network network, float[] parameters, float[] normalizedImages, byte[] labels, double lr, double momentum, double weightDecay)
    {
        _model = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding: 2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10));
        CopyParameters(network, parameters);
        _optimizer = optim.SGD(_model.parameters(), lr, momentum, weight_decay: weightDecay);
        int count = labels.Length;
        _images = tensor(normalizedImages, [count, 1, 28, 28]);
        _labels = tensor(labels.Select(l => (long)l).ToArray(), [count]);
    }

    /// <summary>One SGD step on the samples <paramref name="batch"/>; returns the mean loss.</summary>
    public float Step(IEnumerable<int> batch)
    {
        using var scope = NewDisposeScope();
        Tensor index = tensor(batch.Select(i => (long)i).ToArray());
        Tensor x = _images.index_select(0, index);
        Tensor y = _labels.index_select(0, index);
        _optimizer.zero_grad();
        Tensor loss = nn.functional.cross_entropy(_model.forward(x), y);
        loss.backward();
        _optimizer.step();
        return loss.item<float>();
    }

    /// <summary>
    /// One SGD step at learning rate <paramref name="learningRate"/>: every parameter group's rate is set
    /// first, as a scheduler would, so a schedule computed elsewhere drives torch.optim.SGD step by step.
    /// </summary>
    public float Step(IEnumerable<int> batch, double learningRate)
    {
        foreach (optim.ILearningRateController group in _optimizer.ParamGroups)
        {
            group.LearningRate = learningRate;
        }

        return Step(batch);
    }

    /// <summary>
    /// The share of <paramref name="labels"/> the model's arg-max gets right: eval mode, no autograd,
    /// 1,000 images at a time (<paramref name="normalizedImages"/> as the constructor's).
    /// </summary>
    public double Accuracy(float[] normalizedImages, byte[] labels)
    {
        const int Chunk = 1000;
        int count = labels.Length, size = normalizedImages.Length / count;
        long correct = 0;
        using var noGrad = no_grad();
        _model.eval();
        try
        {
            for (int first = 0; first < count; first += Chunk)
            {
                using var scope = NewDisposeScope();
                int n = Math.Min(Chunk, count - first);
                Tensor x = tensor(normalizedImages.AsSpan(first * size, n * size).ToArray(), [n, 1, 28, 28]);
                Tensor y = tensor(labels.AsSpan(first, n).ToArray().Select(l => (long)l).ToArray(), [n]);
                correct += _model.forward(x).argmax(1).eq(y).sum().item<long>();
            }
        }
        finally
        {
            _model.train();
        }

        return (double)correct / count;
    }

    public float[] Parameters()
    {
        // every tensor wrapper made here stays referenced by the scope until the copy is done: a wrapper
        // finalized by the GC during a native call would leave libtorch a dangling tensor
        using var scope = NewDisposeScope();
        return _model.parameters().SelectMany(p => p.data<float>().ToArray()).ToArray();
    }

    private void CopyParameters(Network network, float[] parameters)
    {
        Layer[] withParameters = network.Layers.Where(l => l.ParameterCount > 0).ToArray();
        TorchSharp.Modules.Parameter[] torchParameters = _model.parameters().ToArray();
        if (torchParameters.Length != 2 * withParameters.Length)
        {
            throw new InvalidOperationException("the torch model does not mirror our lenet5");
        }

        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        int t = 0;
        foreach (Layer layer in withParameters)
        {
            int offset = layer.ParameterOffset;
            foreach (TorchSharp.Modules.Parameter p in torchParameters[t..(t + 2)])
            {
                int size = (int)p.numel();
                p.copy_(tensor(parameters.AsSpan(offset, size).ToArray(), p.shape));
                offset += size;
            }

            t += 2;
        }
    }

    public void Dispose()
    {
        _optimizer.Dispose();
        _images.Dispose();
        _labels.Dispose();
        _model.Dispose();
    }
}

using CnnCluster.Engine.Kernels;
using CnnCluster.Engine.Layers;
using CnnCluster.Engine.Tensors;
using TorchSharp;
using Xunit;
using static CnnCluster.Engine.OracleTests.Oracle;
using static TorchSharp.torch;

namespace CnnCluster.Engine.OracleTests;

/// <summary>Every layer's forward output and gradients agree with libtorch's on random shapes.</summary>
public sealed class LayerOracleTests
{
    /// <summary>Random geometries (seeded): channels 1–20, sizes 4–30, kernels 1–5, strides 1–3, paddings 0–2.</summary>
    public static TheoryData<int> ConvCases => [.. Enumerable.Range(0, 16)];

    [Theory]
    [MemberData(nameof(ConvCases))]
    public void Conv2dMatchesLibtorch(int seed)
    {
        var rng = Rng.For(0xC0DE, (ulong)seed);
        int c = 1 + rng.NextInt(seed % 4 == 0 ? 20 : 8), k = 1 + rng.NextInt(seed % 3 == 0 ? 20 : 8);
        int kernel = 1 + rng.NextInt(5), stride = 1 + rng.NextInt(3), pad = rng.NextInt(Math.Min(3, kernel));
        int h = kernel + rng.NextInt(26), w = kernel + rng.NextInt(26), n = 1 + rng.NextInt(4);
        if (seed < 4)
        {
            // the lenet5 shapes and their neighbours, stride 1, which take the position-vectorized kernels
            (c, h, w, k, kernel, stride, pad) = seed switch
            {
                0 => (1, 28, 28, 6, 5, 1, 2),
                1 => (6, 14, 14, 16, 5, 1, 0),
                2 => (3, 17, 9, 4, 3, 1, 1),
                _ => (2, 12, 31, 5, 4, 1, 0),
            };
        }

        var layer = new Conv2d(new Shape3(c, h, w), k, kernel, stride, pad);
        float[] x = Random(rng, n * layer.Input.Size);
        float[] p = Random(rng, layer.ParameterCount, 0.3);
        float[] dy = Random(rng, n * layer.Output.Size);
        (float[] y, float[] dx, float[] dp) = Ours(layer, n, x, p, dy);
        string shape = $"conv {c}->{k} k{kernel} s{stride} p{pad} on {n}x{h}x{w}";

        // first against our own literal Bouvrie form: a disagreement here is ours, one only with libtorch is not
        var g = new ConvGeometry(c, h, w, k, kernel, stride, pad);
        var yRef = new float[y.Length];
        var dxRef = new float[dx.Length];
        var dpRef = new float[dp.Length];
        ConvReference.Forward(g, n, x, p.AsSpan(0, g.WeightCount), p.AsSpan(g.WeightCount), yRef);
        ConvReference.Backward(g, n, x, dy, dxRef, dpRef.AsSpan(0, g.WeightCount), dpRef.AsSpan(g.WeightCount), p.AsSpan(0, g.WeightCount));
        AssertClose(yRef, y, $"{shape}: y against our literal form", expectedName: "literal form");
        AssertClose(dxRef, dx, $"{shape}: dx against our literal form", expectedName: "literal form");
        AssertClose(dpRef, dp, $"{shape}: dw, db against our literal form", expectedName: "literal form");

        using var scope = NewDisposeScope();
        Tensor tx = Leaf(x, n, c, h, w);
        Tensor tw = Leaf(p[..(k * c * kernel * kernel)], k, c, kernel, kernel);
        Tensor tb = Leaf(p[(k * c * kernel * kernel)..], k);
        Tensor ty = nn.functional.conv2d(tx, tw, tb, strides: [stride, stride], padding: [pad, pad]);
        (ty * tensor(dy, ty.shape)).sum().backward();

        AssertClose(Values(ty), y, $"{shape}: y");
        AssertClose(Values(tx.grad!), dx, $"{shape}: dx");
        AssertClose([.. Values(tw.grad!), .. Values(tb.grad!)], dp, $"{shape}: dw, db");
    }

    [Theory]
    [InlineData(3, 28, 28, 2)]
    [InlineData(5, 13, 11, 2)]
    [InlineData(2, 9, 10, 3)]
    [InlineData(4, 7, 7, 1)]
    public void PoolsMatchLibtorch(int c, int h, int w, int size)
    {
        var rng = Rng.For(0xB001, (ulong)(c * 100 + h));
        const int n = 3;
        foreach (Layer layer in new Layer[] { new MaxPool2d(new Shape3(c, h, w), size), new AvgPool2d(new Shape3(c, h, w), size) })
        {
            float[] x = Random(rng, n * layer.Input.Size);
            float[] dy = Random(rng, n * layer.Output.Size);
            (float[] y, float[] dx, _) = Ours(layer, n, x, [], dy);

            using var scope = NewDisposeScope();
            Tensor tx = Leaf(x, n, c, h, w);
            Tensor ty = layer is MaxPool2d
                ? nn.functional.max_pool2d(tx, [size, size])
                : nn.functional.avg_pool2d(tx, [size, size]);
            (ty * tensor(dy, ty.shape)).sum().backward();
            AssertClose(Values(ty), y, $"{layer.Describe()} on {c}x{h}x{w}: y");
            AssertClose(Values(tx.grad!), dx, $"{layer.Describe()} on {c}x{h}x{w}: dx");
        }
    }

    [Theory]
    [InlineData(400, 120, 8)]
    [InlineData(84, 10, 5)]
    [InlineData(37, 53, 3)]
    public void DenseMatchesLibtorch(int inputs, int outputs, int n)
    {
        var rng = Rng.For(0xDE45E, (ulong)inputs);
        var layer = new Dense(new Shape3(inputs, 1, 1), outputs);
        float[] x = Random(rng, n * inputs);
        float[] p = Random(rng, layer.ParameterCount, 0.2);
        float[] dy = Random(rng, n * outputs);
        (float[] y, float[] dx, float[] dp) = Ours(layer, n, x, p, dy);

        using var scope = NewDisposeScope();
        Tensor tx = Leaf(x, n, inputs);
        Tensor tw = Leaf(p[..(inputs * outputs)], outputs, inputs);
        Tensor tb = Leaf(p[(inputs * outputs)..], outputs);
        Tensor ty = nn.functional.linear(tx, tw, tb);
        (ty * tensor(dy, ty.shape)).sum().backward();
        AssertClose(Values(ty), y, "dense y");
        AssertClose(Values(tx.grad!), dx, "dense dx");
        AssertClose([.. Values(tw.grad!), .. Values(tb.grad!)], dp, "dense dW, db");
    }

    [Theory]
    [InlineData(ActivationKind.ReLU)]
    [InlineData(ActivationKind.Tanh)]
    [InlineData(ActivationKind.Sigmoid)]
    public void ActivationsMatchLibtorch(ActivationKind kind)
    {
        var rng = Rng.For(0xAC7, (ulong)kind);
        var layer = new ActivationLayer(new Shape3(3, 7, 5), kind);
        const int n = 4;
        float[] x = Random(rng, n * layer.Input.Size, 2);
        float[] dy = Random(rng, n * layer.Output.Size);
        (float[] y, float[] dx, _) = Ours(layer, n, x, [], dy);

        using var scope = NewDisposeScope();
        Tensor tx = Leaf(x, n, 3, 7, 5);
        Tensor ty = kind switch
        {
            ActivationKind.ReLU => nn.functional.relu(tx),
            ActivationKind.Tanh => tx.tanh(),
            _ => tx.sigmoid(),
        };
        (ty * tensor(dy, ty.shape)).sum().backward();
        AssertClose(Values(ty), y, $"{kind} y");
        AssertClose(Values(tx.grad!), dx, $"{kind} dx");
    }

    [Theory]
    [InlineData(10, 64)]
    [InlineData(3, 7)]
    public void SoftmaxCrossEntropyMatchesLibtorch(int classes, int n)
    {
        var rng = Rng.For(0x5E, (ulong)classes);
        float[] logits = Random(rng, n * classes, 3);
        int[] labels = Enumerable.Range(0, n).Select(_ => rng.NextInt(classes)).ToArray();
        var delta = new float[n * classes];
        double loss = Engine.Losses.LossHeads.Create("softmax_cross_entropy").Forward(n, classes, logits, labels, delta);

        using var scope = NewDisposeScope();
        Tensor t = Leaf(logits, n, classes);
        Tensor tl = nn.functional.cross_entropy(t, tensor(labels.Select(l => (long)l).ToArray()), reduction: nn.Reduction.Sum);
        tl.backward();
        AssertClose([tl.item<float>()], [(float)loss], "Σ loss");
        AssertClose(Values(t.grad!), delta, "delta a - y");
    }
}

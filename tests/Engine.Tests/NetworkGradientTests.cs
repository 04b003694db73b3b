using CnnCluster.Engine.Losses;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Tensors;
using CnnCluster.Engine.Training;
using CnnCluster.Engine.Verification;
using Xunit;
using Xunit.Abstractions;

namespace CnnCluster.Engine.Tests;

/// <summary>Whole networks and the loss heads against central differences.</summary>
public sealed class NetworkGradientTests(ITestOutputHelper output)
{
    private static readonly GradientCheckOptions Options = new();

    // A whole ReLU/max network has many kinks: a weight of an early layer moves thousands of
    // pre-activations, so a smaller step keeps most points clear of them, and crossings just outside
    // the kink band may still bend an estimate by a few percent. Each layer alone holds 2% (above);
    // here 5%, still far below what a wrong term in a backward pass gives.
    private static readonly GradientCheckOptions NetworkOptions = new() { Step = 1e-3, Floor = 5e-3, RelativeTolerance = 5e-2 };

    [Theory]
    [InlineData("lenet5")]
    [InlineData("bouvrie")]
    public void PresetGradientsMatchFiniteDifferences(string preset)
    {
        AssertNetwork(Presets.Find(preset)!, n: 1, perLayer: 60);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(9)]
    public void AWrongLayerGradientFailsTheNetworkCheck(int layerIndex)
    {
        // a backward pass off by 10% in one layer must not hide inside the network tolerance
        Network net = Network.Build(Presets.LeNet5);
        (float[] p, float[] g, Workspace ws) = Gradient(net, 1);
        var layer = net.Layers[layerIndex];
        for (int i = layer.ParameterOffset; i < layer.ParameterOffset + layer.ParameterCount; i++)
        {
            g[i] *= 1.1f;
        }

        var indices = GradientCheck.Sample(layer.ParameterCount, 60).Select(i => layer.ParameterOffset + i);
        GradientCheckResult r = GradientCheck.Run(p, g, () => ws.Loss(p, 1), indices, NetworkOptions);
        Assert.False(r.Passed(NetworkOptions), $"{layer}: {r}");
    }

    [Fact]
    public void MeanSquaredErrorNetworkWithSigmoidAndAvgPool()
    {
        ModelSpec spec = ModelSpecJson.Parse("""
            { "name": "mse", "input": [2, 9, 9], "classes": 4, "loss": "mean_squared_error",
              "layers": [ { "type": "conv2d", "out": 3, "kernel": 3, "stride": 2, "pad": 1 }, { "type": "sigmoid" },
                          { "type": "avgpool2d", "size": 2 }, { "type": "dense", "out": 4 }, { "type": "sigmoid" } ] }
            """);
        AssertNetwork(spec, n: 2, perLayer: 100);
    }

    [Theory]
    [InlineData(SoftmaxCrossEntropy.SpecName)]
    [InlineData(MeanSquaredError.SpecName)]
    public void LossHeadDeltaIsTheGradient(string name)
    {
        ILossHead head = LossHeads.Create(name);
        const int n = 4, classes = 5;
        var rng = new Rng(11);
        var z = new float[n * classes];
        for (int i = 0; i < z.Length; i++)
        {
            z[i] = (float)(2 * rng.NextGaussian());
        }

        int[] labels = [0, 3, 4, 3];
        var delta = new float[z.Length];
        double loss = head.Forward(n, classes, z, labels, delta);
        Assert.Equal(head.Forward(n, classes, z, labels, Span<float>.Empty), loss, 4);
        GradientCheckResult r = GradientCheck.Run(z, delta, () => head.Forward(n, classes, z, labels, Span<float>.Empty), Enumerable.Range(0, z.Length), Options);
        output.WriteLine($"{name}: {r}");
        Assert.True(r.Passed(Options), r.ToString());
    }

    [Fact]
    public void SoftmaxDeltaIsActivationMinusTarget()
    {
        var head = new SoftmaxCrossEntropy();
        float[] z = [1f, 2f, 3f];
        var delta = new float[3];
        head.Forward(1, 3, z, [2], delta);
        double sum = Math.Exp(1) + Math.Exp(2) + Math.Exp(3);
        Assert.Equal(Math.Exp(1) / sum, delta[0], 5);
        Assert.Equal(Math.Exp(3) / sum - 1, delta[2], 5);
    }

    private static (float[] P, float[] G, Workspace Ws) Gradient(Network net, int n)
    {
        float[] p = net.InitialParameters(5);
        var rng = new Rng(6);
        var x = new float[n * net.Input.Size];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = (float)rng.NextGaussian();
        }

        int[] labels = Enumerable.Range(0, n).Select(i => i % net.Classes).ToArray();
        var ws = new Workspace(net, n);
        ws.SetInput(x, labels);
        var g = new float[p.Length];
        ws.ForwardBackward(p, g, n);
        return (p, g, ws);
    }

    private void AssertNetwork(ModelSpec spec, int n, int perLayer)
    {
        Network net = Network.Build(spec);
        (float[] p, float[] g, Workspace ws) = Gradient(net, n);

        // a sample of every layer's parameters, layer by layer so that a failure names the layer
        foreach (var layer in net.Layers.Where(l => l.ParameterCount > 0))
        {
            IEnumerable<int> indices = GradientCheck.Sample(layer.ParameterCount, perLayer).Select(i => layer.ParameterOffset + i).ToList();
            GradientCheckResult r = GradientCheck.Run(p, g, () => ws.Loss(p, n), indices, NetworkOptions);
            output.WriteLine($"{spec.Name} {layer}: {r}");
            Assert.True(r.Passed(NetworkOptions), $"{spec.Name} {layer}: {r}");

            // ReLU and max windows put many kinks within h of a first-layer weight; most points must still be compared
            Assert.True(r.Checked >= 0.5 * (r.Checked + r.Kinks), $"{spec.Name} {layer}: too many kinks: {r}");
        }
    }
}

using CnnCluster.Engine.Data;
using CnnCluster.Engine.Losses;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Tensors;
using CnnCluster.Engine.Tests;
using CnnCluster.Engine.Training;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Xunit;

namespace CnnCluster.Export.Tests;

/// <summary>
/// The exported graph run by ONNX Runtime (graph optimisations on and off) against our engine on the same raw pixels:
/// logits within 1e-4 of the largest logit and the softmax output a distribution, for lenet5, bouvrie and convnet on the
/// 10,000 Fashion-MNIST test images and 50 random specs (every layer kind, odd and even kernels, padding, strides, pool
/// remainders) on random pixels; and each preset, trained 200 steps, right on exactly as many test images as the engine.
/// </summary>
public sealed class OnnxRuntimeAgreementTests
{
    private static readonly Lazy<DatasetSplits> Data = new(() => MnistFormat.Load(null));

    [Theory]
    [InlineData("lenet5")]
    [InlineData("bouvrie")]
    [InlineData("convnet")]
    public void APresetGivesOurLogitsOnTheTestSet(string model)
    {
        ModelSpec spec = Presets.Find(model)!;
        float[] parameters = Network.Build(spec).InitialParameters(17);
        Agree(spec, parameters, Data.Value.Test);
    }

    [Theory]
    [InlineData("lenet5")]
    [InlineData("bouvrie")]
    [InlineData("convnet")]
    public void ATrainedPresetClassifiesTheTestSetExactlyAsTheEngineDoes(string model)
    {
        // a few hundred steps: far from chance, so the count of right answers says something
        ModelSpec spec = Presets.Find(model)!;
        Network network = Network.Build(spec);
        DatasetSplits data = Data.Value;
        var options = new TrainingOptions { Epochs = 1, MaxSteps = 200, BatchSize = 64, LearningRate = 0.03, Seed = 9, Threads = 2 };
        using var trainer = new Trainer(network, options, data.Train, data.Test);
        trainer.Run();
        float[] parameters = trainer.Parameters;
        (_, double accuracy) = new Evaluator(network, 2).Evaluate(parameters, data.Test);
        int right = (int)Math.Round(accuracy * data.Test.Count);
        Assert.InRange(right, 5_000, 10_000);

        byte[] onnx = OnnxExport.Build(spec, parameters, new InputNormalization(data.Train.Mean, data.Train.Std), new Dictionary<string, string>()).ToByteArray();
        foreach (GraphOptimizationLevel level in new[] { GraphOptimizationLevel.ORT_ENABLE_ALL, GraphOptimizationLevel.ORT_DISABLE_ALL })
        {
            (float[] logits, _) = Run(onnx, level, data.Test);
            int theirs = 0;
            for (int s = 0; s < data.Test.Count; s++)
            {
                theirs += LossHeads.ArgMax(logits.AsSpan(s * spec.Classes, spec.Classes)) == data.Test.Labels[s] ? 1 : 0;
            }

            Assert.Equal(right, theirs);
        }
    }

    public static TheoryData<int> Specs => [.. Enumerable.Range(0, 50)];

    [Theory]
    [MemberData(nameof(Specs))]
    public void ARandomSpecGivesOurLogits(int seed)
    {
        ModelSpec spec = RandomNetworks.Generate(seed);
        Network network = Network.Build(spec);
        float[] parameters = network.InitialParameters((ulong)seed + 1);
        var rng = new Rng((ulong)seed);
        const int n = 64;
        byte[] pixels = new byte[n * spec.Input.Size];
        for (int i = 0; i < pixels.Length; i++)
        {
            pixels[i] = (byte)rng.NextInt(256);
        }

        byte[] labels = [.. Enumerable.Range(0, n).Select(i => (byte)(i % spec.Classes))];
        Agree(spec, parameters, new LabeledImages(spec.Input, pixels, labels, spec.Classes, 0.3f, 0.25f));
    }

    private static void Agree(ModelSpec spec, float[] parameters, LabeledImages data)
    {
        float[] ours = Logits(spec, parameters, data);
        byte[] model = OnnxExport.Build(spec, parameters, new InputNormalization(data.Mean, data.Std), new Dictionary<string, string> { ["model"] = spec.Name }).ToByteArray();
        foreach (GraphOptimizationLevel level in new[] { GraphOptimizationLevel.ORT_ENABLE_ALL, GraphOptimizationLevel.ORT_DISABLE_ALL })
        {
            (float[] logits, float[] probabilities) = Run(model, level, data);
            int classes = spec.Classes;
            for (int s = 0; s < data.Count; s++)
            {
                ReadOnlySpan<float> a = ours.AsSpan(s * classes, classes), b = logits.AsSpan(s * classes, classes);
                float largest = 0f;
                foreach (float v in a)
                {
                    largest = Math.Max(largest, Math.Abs(v));
                }

                float tolerance = 1e-4f * Math.Max(1f, largest);
                for (int c = 0; c < classes; c++)
                {
                    Assert.True(Math.Abs(a[c] - b[c]) <= tolerance, $"{spec.Name} ({level}), sample {s}, class {c}: ours {a[c]:R}, ONNX Runtime {b[c]:R}");
                }

                Assert.Equal(1.0, probabilities.AsSpan(s * classes, classes).ToArray().Sum(v => (double)v), 4);
            }
        }
    }

    // our engine's logits, as `evaluate` computes them (chunks of 100 through a Workspace)
    private static float[] Logits(ModelSpec spec, float[] parameters, LabeledImages data)
    {
        Network network = Network.Build(spec);
        var logits = new float[data.Count * spec.Classes];
        var ws = new Workspace(network, 100);
        for (int first = 0; first < data.Count; first += 100)
        {
            int n = Math.Min(100, data.Count - first);
            ws.LoadRange(data, first, n);
            ws.Loss(parameters, n);
            ws.Output(n).CopyTo(logits.AsSpan(first * spec.Classes));
        }

        return logits;
    }

    private static (float[] Logits, float[] Probabilities) Run(byte[] model, GraphOptimizationLevel level, LabeledImages data)
    {
        using var options = new SessionOptions { GraphOptimizationLevel = level, IntraOpNumThreads = 1 };
        using var session = new InferenceSession(model, options);
        var input = new DenseTensor<float>([data.Count, data.Shape.C, data.Shape.H, data.Shape.W]);
        for (int i = 0; i < data.Pixels.Length; i++)
        {
            input.Buffer.Span[i] = data.Pixels[i];
        }

        using IDisposableReadOnlyCollection<DisposableNamedOnnxValue> results = session.Run([NamedOnnxValue.CreateFromTensor(OnnxExport.Input, input)]);
        float[] Output(string name) => results.Single(r => r.Name == name).AsTensor<float>().ToArray();
        return (Output(OnnxExport.Logits), Output(OnnxExport.Probabilities));
    }
}

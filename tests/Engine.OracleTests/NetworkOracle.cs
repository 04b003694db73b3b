using CnnCluster.Engine.Data;
using CnnCluster.Engine.Layers;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Optim;
using CnnCluster.Engine.Tensors;
using CnnCluster.Engine.Training;

namespace CnnCluster.Engine.OracleTests;

/// <summary>How one network's run is set up for the whole-network oracle.</summary>
public sealed record OracleRun
{
    public int Steps { get; init; } = 3;

    public int BatchSize { get; init; } = 8;

    /// <summary>Images in the data set: fewer than Steps · BatchSize wraps into a new epoch (new order, new draws).</summary>
    public int Images { get; init; } = 12;

    /// <summary>The images to train on (null: <see cref="Images"/> random ones).</summary>
    public LabeledImages? Data { get; init; }

    public int ShardSize { get; init; } = 8;

    public int Threads { get; init; } = 1;

    public double LearningRate { get; init; } = 0.05;

    public SgdOptions Sgd { get; init; } = new(0, false, 0);

    public bool Augment { get; init; }

    public ulong Seed { get; init; } = 1;

    /// <summary>Added to our initial parameters (σ · N(0, 1)) so that no symmetric start (c = 0, β = 1, b = 0) hides a term; 0: none.</summary>
    public double Jitter { get; init; }
}

/// <summary>
/// What one network's comparison found: the worst tensor and loss, by step; and whether the run blew up
/// (libtorch's loss grew a hundredfold, or ours stopped as diverged), where no comparison means anything.
/// </summary>
public sealed record OracleVerdict(double WorstUpdateError, string WorstTensor, int WorstStep, double WorstLossError, int WorstLossStep, bool BlewUp, IReadOnlyList<string> Lines);

/// <summary>
/// Trains one network for a few steps twice, with our engine (micro-shards, reduction tree, our SGD in
/// float32) and with <see cref="TorchNetwork"/> (libtorch's autograd, SGD in float64), from the same
/// parameters on the same batches, and measures how far apart they are after every step: for every
/// parameter tensor, the largest difference relative to the size of the update libtorch made to that
/// tensor so far (what a wrong gradient changes), less the rounding that storing a float32 parameter
/// costs; and each step's loss.
/// </summary>
public static class NetworkOracle
{
    // a float32 parameter is stored with up to half an ulp of error at each step's update (2⁻²⁴ relative):
    // that much of a difference is the storage's, not a gradient's
    private const double StorageRounding = 1.0 / (1 << 24);

    /// <param name="decorate">Wraps our layers (the mutation tests' deliberate defects); libtorch builds from the spec alone.</param>
    public static OracleVerdict Compare(ModelSpec spec, OracleRun run, Func<int, Layer, Layer>? decorate = null)
    {
        Network network = Network.Build(spec, decorate);
        LabeledImages data = run.Data ?? RandomImages(spec, run.Images, run.Seed);
        var options = new TrainingOptions
        {
            Epochs = 1 + (run.Steps * run.BatchSize / data.Count), MaxSteps = run.Steps, BatchSize = run.BatchSize, LearningRate = run.LearningRate,
            ShardSize = run.ShardSize, Threads = run.Threads, Seed = run.Seed, Sgd = run.Sgd, Augment = run.Augment,
        };
        var session = new TrainingSession(network, options, data, null);
        if (run.Jitter > 0)
        {
            var rng = Rng.For(run.Seed, 0x717E);
            float[] jittered = [.. session.Parameters.Select(p => p + (float)(run.Jitter * rng.NextGaussian()))];
            session.StartFrom(jittered);
        }

        float[] start = (float[])session.Parameters.Clone();
        var torch = new TorchNetwork(network, start, run.Sgd);
        using var gradient = new ParallelGradient(network, run.ShardSize, run.Threads);
        var lines = new List<string>();
        (double error, string tensor, int step) worst = (0, "none", 0);
        (double error, int step) worstLoss = (0, 0);
        double firstLoss = double.NaN;
        OracleVerdict Verdict(bool blewUp) => new(worst.error, worst.tensor, worst.step, worstLoss.error, worstLoss.step, blewUp, lines);
        for (int s = 1; s <= run.Steps; s++)
        {
            PassContext pass = session.Pass;
            ArraySegment<int> batch = session.BeginStep();
            int[] indices = [.. batch];
            (float[] g, double lossSum) = gradient.Compute(session.Parameters, data, batch, pass);
            double penalty = network.Regularize(session.Parameters, new float[network.ParameterCount]);
            StepReport ours;
            try
            {
                ours = session.Commit(g, lossSum, indices.Length);
            }
            catch (TrainingDivergedException e)
            {
                lines.Add($"step {s}: ours diverged ({e.Message})");
                return Verdict(blewUp: true);
            }

            double theirs = torch.Step(data, indices, pass, ours.LearningRate);
            firstLoss = s == 1 ? theirs : firstLoss;
            if (!(Math.Abs(theirs) <= 100 * Math.Abs(firstLoss)))
            {
                lines.Add($"step {s}: libtorch's loss {theirs:G6} grew a hundredfold from {firstLoss:G6}");
                return Verdict(blewUp: true);
            }

            double lossError = Math.Abs(ours.Loss + penalty - theirs) / Math.Max(Math.Abs(theirs), 1e-6);
            lines.Add($"step {s} ({indices.Length} images): loss ours {ours.Loss + penalty:G9}, libtorch {theirs:G9}, relative {lossError:E1}");
            if (lossError > worstLoss.error)
            {
                worstLoss = (lossError, s);
            }

            for (int t = 0; t < torch.Tensors.Count; t++)
            {
                TorchNetwork.ParameterTensor pt = torch.Tensors[t];
                double error = UpdateError(start.AsSpan(pt.Offset, pt.Length), session.Parameters.AsSpan(pt.Offset, pt.Length), torch.Parameters(t), s);
                string name = $"layer {pt.Layer} ({network.Layers[pt.Layer].Describe()}) {pt.Name}{Between(network, pt.Layer)}";
                lines.Add($"  {name}: {error:E1} of the update");
                if (error > worst.error)
                {
                    worst = (error, name, s);
                }
            }
        }

        return Verdict(blewUp: false);
    }

    // ", after conv2d, before relu": the layer's neighbours, where a defect between two layers would show first
    private static string Between(Network network, int layer) =>
        (layer > 0 ? $", after {network.Layers[layer - 1].Kind}" : string.Empty) + (layer + 1 < network.Layers.Count ? $", before {network.Layers[layer + 1].Kind}" : string.Empty);

    /// <summary>
    /// max |ours − theirs| over the tensor, less the storage's rounding, over max |theirs − start|: how
    /// much of libtorch's update ours misses or adds. A tensor libtorch did not move must not move at all.
    /// </summary>
    public static double UpdateError(ReadOnlySpan<float> start, ReadOnlySpan<float> ours, ReadOnlySpan<double> theirs, int steps)
    {
        double update = 0, excess = 0;
        for (int i = 0; i < start.Length; i++)
        {
            update = Math.Max(update, Math.Abs(theirs[i] - start[i]));
            double allowed = steps * StorageRounding * Math.Max(Math.Abs(theirs[i]), Math.Abs(start[i]));
            excess = Math.Max(excess, Math.Abs(ours[i] - theirs[i]) - allowed);
        }

        return excess <= 0 ? 0 : update == 0 ? double.PositiveInfinity : excess / update;
    }

    private static readonly Lazy<LabeledImages> FashionMnist = new(() => MnistFormat.Load(null).Train);

    /// <summary>
    /// Crops of Fashion-MNIST training images at a spec's input size (one channel), labels folded into its
    /// classes, normalized as the data set is: real images bring what random pixels lack, black borders
    /// and flat regions whose equal values tie in max windows and sit on kinks.
    /// </summary>
    public static LabeledImages FashionMnistCrops(ModelSpec spec, int count, ulong seed)
    {
        LabeledImages all = FashionMnist.Value;
        var rng = Rng.For(seed, 0xC4095);
        int h = spec.Input.H, w = spec.Input.W, side = all.Shape.W;
        var pixels = new byte[count * h * w];
        var labels = new byte[count];
        for (int s = 0; s < count; s++)
        {
            int image = rng.NextInt(all.Count), top = rng.NextInt(all.Shape.H - h + 1), left = rng.NextInt(side - w + 1);
            for (int y = 0; y < h; y++)
            {
                all.Pixels.AsSpan((image * all.Shape.Size) + ((top + y) * side) + left, w).CopyTo(pixels.AsSpan((s * h * w) + (y * w), w));
            }

            labels[s] = (byte)(all.Labels[image] % spec.Classes);
        }

        return new LabeledImages(spec.Input, pixels, labels, spec.Classes, all.Mean, all.Std);
    }

    /// <summary>Random pixels and labels for a spec's input (seeded), normalized by their own statistics.</summary>
    public static LabeledImages RandomImages(ModelSpec spec, int count, ulong seed)
    {
        var rng = Rng.For(seed, 0x1A6E);
        var pixels = new byte[count * spec.Input.Size];
        var labels = new byte[count];
        for (int i = 0; i < pixels.Length; i++)
        {
            pixels[i] = (byte)rng.NextInt(256);
        }

        for (int i = 0; i < count; i++)
        {
            labels[i] = (byte)rng.NextInt(spec.Classes);
        }

        (float mean, float std) = LabeledImages.Statistics(pixels);
        return new LabeledImages(spec.Input, pixels, labels, spec.Classes, mean, std);
    }
}

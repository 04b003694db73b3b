using System.Globalization;

namespace CnnCluster.Engine.Models;

/// <summary>
/// What a spec would cost, estimated from its fields alone (64-bit, saturating) before any layer is
/// built or any buffer allocated: parameters (the coordinator, every worker and every replica hold
/// several copies: parameters, gradient, momentum) and activations per sample (every layer's output,
/// kept for the backward pass, times the batch on each thread). A spec over either limit is refused
/// with the numbers, instead of ending in an overflow or an allocation of gigabytes; so is a shard size
/// whose activations (and their deltas) would not fit one thread's budget, and a run whose threads would
/// not fit the memory of the machine that is to compute it (<see cref="CheckThreads"/>).
/// </summary>
public static class ModelBudget
{
    /// <summary>64 Mi parameters: 256 MiB per copy.</summary>
    public const long MaxParameters = 64L << 20;

    /// <summary>16 Mi values per sample summed over the layers' outputs: 64 MiB per sample.</summary>
    public const long MaxActivationsPerSample = 16L << 20;

    /// <summary>256 Mi values (1 GiB) per computing thread: a micro-shard's activations and their deltas.</summary>
    public const long MaxActivationsPerThread = 256L << 20;

    /// <summary>Copies of the parameters a machine holds besides its threads' (parameters, gradient, velocity, a step's start, slices in flight).</summary>
    private const long ParameterCopies = 8;

    /// <summary>The estimate; a field the layer factory would refuse is counted as it stands (it refuses it next).</summary>
    public static (long Parameters, long ActivationsPerSample) Estimate(ModelSpec spec)
    {
        long c = Math.Max(1, spec.Input.C), h = Math.Max(1, spec.Input.H), w = Math.Max(1, spec.Input.W);
        long parameters = 0;
        long activations = Mul(c, Mul(h, w));
        foreach (LayerSpec layer in spec.Layers)
        {
            long outC = Math.Max(1, layer.Out ?? 1), k = Math.Max(1, layer.Kernel ?? 1), stride = Math.Max(1, layer.Stride);
            long pad = Math.Max(0, layer.Pad), size = Math.Max(1, layer.Size ?? 1);
            switch (layer.Type)
            {
                case "conv2d":
                case "mapcombination":
                    // conv: K·C·k² weights + K biases; a map combination adds its K·C mixing logits
                    parameters = Add(parameters, Add(Mul(Mul(outC, c), Mul(k, k)), Add(Mul(outC, c), outC)));
                    (c, h, w) = (outC, Math.Max(1, ((h + 2 * pad - k) / stride) + 1), Math.Max(1, ((w + 2 * pad - k) / stride) + 1));
                    break;
                case "subsampling":
                case "maxpool2d":
                case "avgpool2d":
                    parameters = Add(parameters, 2 * c);
                    (h, w) = (Math.Max(1, h / size), Math.Max(1, w / size));
                    break;
                case "dense":
                    long input = Mul(c, Mul(h, w));
                    parameters = Add(parameters, Add(Mul(input, outC), outC));
                    (c, h, w) = (outC, 1, 1);
                    break;
            }

            activations = Add(activations, Mul(c, Mul(h, w)));
        }

        return (parameters, activations);
    }

    /// <summary>Throws a <see cref="ModelSpecException"/> with the numbers when the spec is over a limit.</summary>
    public static void Check(ModelSpec spec) => Check(spec, Estimate(spec));

    private static void Check(ModelSpec spec, (long Parameters, long ActivationsPerSample) estimate)
    {
        (long parameters, long activations) = estimate;
        if (parameters > MaxParameters)
        {
            throw new ModelSpecException(
                $"model '{spec.Name}' is too large: about {Count(parameters)} parameters ({Bytes(parameters)} per copy), the limit is {Count(MaxParameters)} ({Bytes(MaxParameters)}); make the dense and conv layers smaller");
        }

        if (activations > MaxActivationsPerSample)
        {
            throw new ModelSpecException(
                $"model '{spec.Name}' is too large: about {Count(activations)} activations per sample ({Bytes(activations)}), the limit is {Count(MaxActivationsPerSample)} ({Bytes(MaxActivationsPerSample)}); use a smaller input, fewer maps or earlier pooling");
        }
    }

    /// <summary>What one computing thread holds for a micro-shard of <paramref name="shardSize"/> samples: every layer's output and its delta.</summary>
    public static long ActivationsPerThread(ModelSpec spec, int shardSize) => PerThread(Estimate(spec).ActivationsPerSample, shardSize);

    /// <summary>Throws a <see cref="ModelSpecException"/> with the numbers when a micro-shard of <paramref name="shardSize"/> samples would not fit one thread's budget.</summary>
    public static void CheckShard(ModelSpec spec, int shardSize) => CheckShard(spec, shardSize, Estimate(spec));

    /// <summary>
    /// Throws a <see cref="ModelSpecException"/> when <paramref name="threads"/> threads computing micro-shards of
    /// <paramref name="shardSize"/>, with the parameters' copies, would need more than 80% of <paramref name="availableBytes"/>
    /// (this machine's memory, or its container's limit, by default).
    /// </summary>
    public static void CheckThreads(ModelSpec spec, int shardSize, int threads, long? availableBytes = null)
    {
        (long parameters, long perSample) = Estimate(spec);
        CheckShard(spec, shardSize, (parameters, perSample));
        long available = availableBytes ?? GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        long floats = Add(Mul(PerThread(perSample, shardSize), Math.Max(1, threads)), Mul(parameters, ParameterCopies));
        if (available > 0 && floats > available / 5) // 4 bytes a float, 80% of the bytes
        {
            throw new ModelSpecException(
                $"model '{spec.Name}' at shard size {shardSize} on {threads} thread(s) needs about {Bytes(floats)}, and this machine has {(available / (double)(1L << 30)).ToString("0.#", CultureInfo.InvariantCulture)} GiB " +
                "(80% of it may be used): give it fewer threads (WORKER_THREADS), a smaller --shard-size or more memory");
        }
    }

    private static long PerThread(long activationsPerSample, int shardSize) => Mul(Mul(activationsPerSample, Math.Max(1, shardSize)), 2);

    private static void CheckShard(ModelSpec spec, int shardSize, (long Parameters, long ActivationsPerSample) estimate)
    {
        Check(spec, estimate);
        long perSample = estimate.ActivationsPerSample;
        long perThread = PerThread(perSample, shardSize);
        if (perThread > MaxActivationsPerThread)
        {
            long fits = Math.Max(0, MaxActivationsPerThread / Math.Max(1, 2 * perSample));
            throw new ModelSpecException(
                $"model '{spec.Name}' is too large for shard size {shardSize}: about {Count(perThread)} activations per worker thread ({Count(perSample)} per sample × {shardSize} samples, and their deltas: {Bytes(perThread)}), " +
                $"the limit is {Count(MaxActivationsPerThread)} ({Bytes(MaxActivationsPerThread)}); " + (fits >= 1 ? $"use --shard-size {fits} or less, or a smaller model" : "use a smaller model"));
        }
    }

    private static string Count(long n) => n == long.MaxValue ? "more than 9.2e18" : n.ToString("N0", CultureInfo.InvariantCulture);

    private static string Bytes(long floats) => floats >= long.MaxValue / 4
        ? "more than 32 EiB"
        : (4.0 * floats / (1L << 30)).ToString(floats >= 1L << 28 ? "0.#" : "0.###", CultureInfo.InvariantCulture) + " GiB";

    private static long Add(long a, long b) => a > long.MaxValue - b ? long.MaxValue : a + b;

    private static long Mul(long a, long b) => b != 0 && a > long.MaxValue / b ? long.MaxValue : a * b;
}

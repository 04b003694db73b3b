using System.Diagnostics;
using CnnCluster.Engine.Layers;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Tensors;

namespace CnnCluster.Bench.Engine;

/// <summary>
/// Each layer of a network on one thread, forward and backward on a micro-shard of n samples (the unit
/// a training thread works on): µs per call, and for conv and dense GFLOP/s and % of one core's peak; a conv that
/// the network runs with its ReLU and max pool as one stage (<see cref="ConvReluPool"/>) also as that stage.
/// </summary>
public static class LayerTimes
{
    /// <summary>One row of the table: a layer, or (Layer null) a conv's fused stage, with its forward and backward on prepared buffers.</summary>
    public sealed record Item(string Name, Layer? Layer, bool First, Action Forward, Action Backward);

    /// <summary>The rows of <paramref name="network"/> on a micro-shard of <paramref name="n"/>: each layer, and after a conv that runs as a stage, the stage.</summary>
    public static List<Item> Items(Network network, int n)
    {
        var rng = Rng.For(3, 0);
        float[] p = network.InitialParameters(5);
        var g = new float[p.Length];
        var items = new List<Item>();
        for (int i = 0; i < network.Layers.Count; i++)
        {
            Layer l = network.Layers[i];
            float[] x = Random(rng, n * l.Input.Size), y = new float[n * l.Output.Size], dy = Random(rng, n * l.Output.Size), dx = new float[n * l.Input.Size];
            float[] scratch = new float[l.ScratchSize(n)];
            var pl = new ArraySegment<float>(p, l.ParameterOffset, l.ParameterCount);
            var gl = new ArraySegment<float>(g, l.ParameterOffset, l.ParameterCount);
            l.Forward(n, x, y, pl, scratch);
            bool first = i == 0;
            items.Add(new Item(l.Describe(), l, first, () => l.Forward(n, x, y, pl, scratch), () => l.Backward(n, x, y, dy, first ? Span<float>.Empty : dx, pl, gl, scratch)));
            if (ConvReluPool.At(network.Layers, i) is { } stage)
            {
                float[] pooled = new float[n * stage.Pool.Output.Size], dpooled = Random(rng, pooled.Length);
                float[] sdx = new float[n * stage.Conv.Input.Size], convScratch = new float[stage.Conv.ScratchSize(n)], poolScratch = new float[stage.Pool.ScratchSize(n)];
                stage.Forward(n, x, pooled, pl, convScratch, poolScratch);
                items.Add(new Item("  with relu, pool: a stage", null, first,
                    () => stage.Forward(n, x, pooled, pl, convScratch, poolScratch),
                    () => stage.Backward(n, x, pooled, dpooled, first ? Span<float>.Empty : sdx, pl, gl, convScratch, poolScratch)));
            }
        }

        return items;
    }

    public static void Print(Network network, int n, double corePeak)
    {
        Console.WriteLine($"layers on 1 thread, micro-shard of {n} samples (FLOPs: 2 per multiply-add; % of one core's {corePeak:F0} GFLOP/s)");
        Console.WriteLine($"  {"layer",-28} {"fwd µs",9} {"GFLOP/s",8} {"%peak",6}   {"bwd µs",9} {"GFLOP/s",8} {"%peak",6}");
        var verdict = new Verdict();
        foreach (Item item in Items(network, n))
        {
            double fwd = Time(item.Forward);
            double bwd = Time(item.Backward);
            if (item.Layer is not { } l)
            {
                Console.WriteLine($"  {item.Name,-28} {fwd * 1e6,9:F1} {"",8} {"",6}   {bwd * 1e6,9:F1}");
                verdict.AddStage(fwd, bwd);
                continue;
            }

            (double fwdFlops, double bwdFlops) = Flops(l, n, item.First);
            Console.WriteLine($"  {item.Name,-28} {fwd * 1e6,9:F1} {Rate(fwdFlops, fwd)} {Percent(fwdFlops, fwd, corePeak)}   {bwd * 1e6,9:F1} {Rate(bwdFlops, bwd)} {Percent(bwdFlops, bwd, corePeak)}");
            verdict.Add(l, fwd, bwd, fwdFlops / fwd / 1e9 / corePeak, bwdFlops / bwd / 1e9 / corePeak);
        }

        Console.WriteLine(verdict.Line(CnnCluster.Engine.Kernels.NumericContract.Instructions));
    }

    /// <summary>
    /// One line against issue 32's targets: every conv pass at 60% of one core's peak or more (35% with one input
    /// channel), and the max pools and activations after a conv under 15% of its time, forward and backward.
    /// </summary>
    private sealed class Verdict
    {
        private readonly List<(string Pass, double Share, double Target)> _convs = new();
        private readonly List<(string Conv, double Forward, double Backward)> _after = new();
        private (string Name, double Fwd, double Bwd)? _conv;
        private (double Fwd, double Bwd)? _stage;
        private double _afterFwd, _afterBwd;

        /// <summary>The last conv with its ReLU and pool as one stage: what follows the conv is the stage's time past the conv's.</summary>
        public void AddStage(double fwd, double bwd) => _stage = (fwd, bwd);

        public void Add(Layer layer, double fwd, double bwd, double fwdShare, double bwdShare)
        {
            if (layer is Conv2d c)
            {
                Close();
                double target = c.Geometry.C == 1 ? 0.35 : 0.60;
                _convs.Add(($"{c.Describe()} fwd", fwdShare, target));
                _convs.Add(($"{c.Describe()} bwd", bwdShare, target));
                _conv = (c.Describe(), fwd, bwd);
            }
            else if (_conv is not null && layer is MaxPool2d or ActivationLayer)
            {
                _afterFwd += fwd;
                _afterBwd += bwd;
            }
            else
            {
                Close();
            }
        }

        private void Close()
        {
            if (_conv is { } c && _stage is { } stage)
            {
                _after.Add((c.Name, Math.Max(0, stage.Fwd - c.Fwd) / c.Fwd, Math.Max(0, stage.Bwd - c.Bwd) / c.Bwd));
            }
            else if (_conv is { } alone && (_afterFwd > 0 || _afterBwd > 0))
            {
                _after.Add((alone.Name, _afterFwd / alone.Fwd, _afterBwd / alone.Bwd));
            }

            (_conv, _stage, _afterFwd, _afterBwd) = (null, null, 0, 0);
        }

        public string Line(string instructions)
        {
            Close();
            if (!System.Runtime.Intrinsics.X86.Fma.IsSupported)
            {
                return $"verdict on {instructions}: no FMA instructions, so the contract's fused multiply-adds are emulated and the shares above are of that emulated peak; issue 32's targets are for 256- and 512-bit FMA machines";
            }

            int met = _convs.Count(p => p.Share >= p.Target);
            var lowest = _convs.MinBy(p => p.Share / p.Target);
            string convs = _convs.Count == 0 ? "no conv layers" : $"conv passes at target {met} of {_convs.Count} (lowest {lowest.Pass} {100 * lowest.Share:F0}% of peak, target {100 * lowest.Target:F0}%)";
            string after = _after.Count == 0 ? "" : $"; pool+activation after a conv {100 * _after.Min(a => Math.Min(a.Forward, a.Backward)):F0}–{100 * _after.Max(a => Math.Max(a.Forward, a.Backward)):F0}% of its time (target under 15%)";
            bool all = met == _convs.Count && _after.All(a => a.Forward < 0.15 && a.Backward < 0.15);
            return $"verdict on {instructions}: {(all ? "meets" : "below")} issue 32's targets: {convs}{after}";
        }
    }

    /// <summary>Multiply-add FLOPs of a layer's forward and backward (the first layer computes no input delta).</summary>
    public static (double Forward, double Backward) Flops(Layer layer, int n, bool first) => layer switch
    {
        Conv2d c => (2.0 * n * c.Geometry.WeightCount * c.Output.H * c.Output.W, (first ? 2.0 : 4.0) * n * c.Geometry.WeightCount * c.Output.H * c.Output.W),
        Dense d => (2.0 * n * d.Input.Size * d.Output.Size, (first ? 2.0 : 4.0) * n * d.Input.Size * d.Output.Size),
        _ => (0, 0),
    };

    private static string Rate(double flops, double seconds) => flops == 0 ? $"{"",8}" : $"{flops / seconds / 1e9,8:F1}";

    private static string Percent(double flops, double seconds, double peak) => flops == 0 ? $"{"",6}" : $"{100 * flops / seconds / 1e9 / peak,5:F1}%";

    /// <summary>Seconds per call: the median of 7 batches of calls sized to about 20 ms each.</summary>
    public static double Time(Action action)
    {
        int calls = 1;
        var clock = Stopwatch.StartNew();
        while (true)
        {
            clock.Restart();
            for (int c = 0; c < calls; c++)
            {
                action();
            }

            if (clock.Elapsed.TotalMilliseconds > 20)
            {
                break;
            }

            calls *= 2;
        }

        var samples = new double[7];
        for (int s = 0; s < samples.Length; s++)
        {
            clock.Restart();
            for (int c = 0; c < calls; c++)
            {
                action();
            }

            samples[s] = clock.Elapsed.TotalSeconds / calls;
        }

        Array.Sort(samples);
        return samples[samples.Length / 2];
    }

    private static float[] Random(Rng rng, int count)
    {
        var a = new float[count];
        for (int i = 0; i < count; i++)
        {
            a[i] = (float)(rng.NextDouble() * 2 - 1);
        }

        return a;
    }
}

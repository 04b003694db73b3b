using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using CnnCluster.Engine.Kernels;

namespace CnnCluster.Bench.Engine;

/// <summary>
/// FP32 peak of this CPU as a loop of independent fused multiply-adds at the widest accelerated vector
/// width (12 accumulators hide the FMA latency), per core and on T cores at once; written on the
/// engine's own vector operations.
/// </summary>
public static class PeakFlops
{
    public static string Width => Vector512.IsHardwareAccelerated ? "Vector512" : Vector256.IsHardwareAccelerated ? "Vector256" : "Vector128";

    /// <summary>GFLOP/s of <paramref name="threads"/> threads each running the loop (best of 5).</summary>
    public static double Measure(int threads)
    {
        const long iterations = 20_000_000;
        double best = 0;
        for (int trial = 0; trial < 5; trial++)
        {
            var clock = Stopwatch.StartNew();
            float sink = 0;
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, _ =>
            {
                float r = Vector512.IsHardwareAccelerated ? Loop<V512, Vector512<float>>(iterations) : Loop<V256, Vector256<float>>(iterations);
                sink += r;
            });
            double seconds = clock.Elapsed.TotalSeconds;
            int lanes = Vector512.IsHardwareAccelerated ? 16 : 8;
            best = Math.Max(best, threads * iterations * 12.0 * lanes * 2 / seconds / 1e9);
            GC.KeepAlive(sink);
        }

        return best;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float Loop<TOps, TVec>(long iterations)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct
    {
        TVec a = TOps.Broadcast(0.999f), b = TOps.Broadcast(1e-7f);
        TVec c0 = TOps.Broadcast(1f), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
        for (long i = 0; i < iterations; i++)
        {
            c0 = TOps.MultiplyAdd(c0, a, b); c1 = TOps.MultiplyAdd(c1, a, b);
            c2 = TOps.MultiplyAdd(c2, a, b); c3 = TOps.MultiplyAdd(c3, a, b);
            c4 = TOps.MultiplyAdd(c4, a, b); c5 = TOps.MultiplyAdd(c5, a, b);
            c6 = TOps.MultiplyAdd(c6, a, b); c7 = TOps.MultiplyAdd(c7, a, b);
            c8 = TOps.MultiplyAdd(c8, a, b); c9 = TOps.MultiplyAdd(c9, a, b);
            c10 = TOps.MultiplyAdd(c10, a, b); c11 = TOps.MultiplyAdd(c11, a, b);
        }

        TVec sum = TOps.Add(TOps.Add(TOps.Add(c0, c1), TOps.Add(c2, c3)), TOps.Add(TOps.Add(c4, c5), TOps.Add(c6, c7)));
        // keep the chains live: the first lane of their sum is enough
        Span<float> lanes = stackalloc float[TOps.Count];
        TOps.Store(TOps.Add(sum, TOps.Add(TOps.Add(c8, c9), TOps.Add(c10, c11))), ref lanes[0]);
        return lanes[0];
    }
}

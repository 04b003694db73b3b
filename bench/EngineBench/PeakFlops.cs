using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace CnnCluster.Bench.Engine;

/// <summary>
/// FP32 peak of this CPU as a loop of independent fused multiply-adds at the widest accelerated vector
/// width (12 accumulators hide the FMA latency), per core and on T cores at once.
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
                float r = Vector512.IsHardwareAccelerated ? Loop512(iterations) : Loop256(iterations);
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
    private static float Loop512(long iterations)
    {
        Vector512<float> a = Vector512.Create(0.999f), b = Vector512.Create(1e-7f);
        Vector512<float> c0 = Vector512.Create(1f), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
        for (long i = 0; i < iterations; i++)
        {
            c0 = Vector512.FusedMultiplyAdd(c0, a, b); c1 = Vector512.FusedMultiplyAdd(c1, a, b);
            c2 = Vector512.FusedMultiplyAdd(c2, a, b); c3 = Vector512.FusedMultiplyAdd(c3, a, b);
            c4 = Vector512.FusedMultiplyAdd(c4, a, b); c5 = Vector512.FusedMultiplyAdd(c5, a, b);
            c6 = Vector512.FusedMultiplyAdd(c6, a, b); c7 = Vector512.FusedMultiplyAdd(c7, a, b);
            c8 = Vector512.FusedMultiplyAdd(c8, a, b); c9 = Vector512.FusedMultiplyAdd(c9, a, b);
            c10 = Vector512.FusedMultiplyAdd(c10, a, b); c11 = Vector512.FusedMultiplyAdd(c11, a, b);
        }

        return Vector512.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float Loop256(long iterations)
    {
        Vector256<float> a = Vector256.Create(0.999f), b = Vector256.Create(1e-7f);
        Vector256<float> c0 = Vector256.Create(1f), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
        for (long i = 0; i < iterations; i++)
        {
            c0 = Vector256.FusedMultiplyAdd(c0, a, b); c1 = Vector256.FusedMultiplyAdd(c1, a, b);
            c2 = Vector256.FusedMultiplyAdd(c2, a, b); c3 = Vector256.FusedMultiplyAdd(c3, a, b);
            c4 = Vector256.FusedMultiplyAdd(c4, a, b); c5 = Vector256.FusedMultiplyAdd(c5, a, b);
            c6 = Vector256.FusedMultiplyAdd(c6, a, b); c7 = Vector256.FusedMultiplyAdd(c7, a, b);
            c8 = Vector256.FusedMultiplyAdd(c8, a, b); c9 = Vector256.FusedMultiplyAdd(c9, a, b);
            c10 = Vector256.FusedMultiplyAdd(c10, a, b); c11 = Vector256.FusedMultiplyAdd(c11, a, b);
        }

        return Vector256.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);
    }
}

using System.Runtime.Intrinsics;

namespace CnnCluster.Engine.Kernels;

/// <summary>
/// The engine's numeric contract (README): the same bits on every CPU because the order of every sum is
/// fixed by the algorithm (layouts chosen by shape, 16-lane reductions, fused multiply-add everywhere,
/// the engine's own transcendentals). Its version changes whenever any of that changes, so nodes that
/// would compute different bits can tell before they exchange a gradient: a coordinator refuses a worker
/// of another version.
/// </summary>
public static class NumericContract
{
    /// <summary>
    /// 4: this contract, with half the augmented images left as they are (a version-3 worker would
    /// transform every one). 3: the training noise drawn from counter hashes (augmentation from (seed, epoch,
    /// sample), dropout masks from (seed, step, sample, unit)); a version-2 worker ignores an assignment's
    /// augmentation fields and would compute an augmented run unaugmented. 2 fixed the order of every sum;
    /// 1 was the engine before it, whose bits followed the vector width.
    /// </summary>
    public const int Version = 4;

    /// <summary>
    /// The version this process reports: <see cref="Version"/>, unless <c>CNN_NUMERIC_CONTRACT</c> says
    /// otherwise: a node can claim another contract to test (or demonstrate) that the cluster refuses it.
    /// </summary>
    public static int Reported { get; } =
        int.TryParse(Environment.GetEnvironmentVariable("CNN_NUMERIC_CONTRACT"), out int claimed) ? claimed : Version;

    /// <summary>The registers this CPU runs the engine on, e.g. "avx512", "avx2", "sse", "software".</summary>
    public static string Instructions { get; } =
        Vector512.IsHardwareAccelerated ? "avx512"
        : Vector256.IsHardwareAccelerated ? "avx2"
        : Vector128.IsHardwareAccelerated ? (System.Runtime.Intrinsics.X86.Fma.IsSupported ? "sse+fma" : "sse")
        : "software";
}

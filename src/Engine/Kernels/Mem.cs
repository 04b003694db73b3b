using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace CnnCluster.Engine.Kernels;

/// <summary>
/// The kernels' one door to memory: an element or a vector at an index of a span. A kernel checks its
/// operands' extents once before its loops (GatherGemm's contract); in the default build the accesses
/// inside are then unchecked (<see cref="Unsafe.Add{T}(ref T, int)"/> from the first element). Built
/// with <c>-c Checked</c> (the <c>CHECKED_KERNELS</c> symbol) every access is a span index or slice that
/// the runtime bounds-checks, so a kernel whose own check is wrong fails at the first stray access
/// instead of reading a neighbour's memory. CI runs the engine and oracle suites in both builds.
/// </summary>
internal static class Mem
{
#if CHECKED_KERNELS
    public const bool Checked = true;
#else
    public const bool Checked = false;
#endif

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ref float At(Span<float> s, int i) =>
#if CHECKED_KERNELS
        ref s[i];
#else
        ref Unsafe.Add(ref MemoryMarshal.GetReference(s), i);
#endif

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Get<T>(ReadOnlySpan<T> s, int i)
        where T : unmanaged =>
#if CHECKED_KERNELS
        s[i];
#else
        Unsafe.Add(ref MemoryMarshal.GetReference(s), i);
#endif

    /// <summary>The vector s[i .. i + L).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec Load<TOps, TVec>(ReadOnlySpan<float> s, int i)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct =>
#if CHECKED_KERNELS
        TOps.Load(ref MemoryMarshal.GetReference(s.Slice(i, TOps.Count)));
#else
        TOps.Load(ref Unsafe.Add(ref MemoryMarshal.GetReference(s), i));
#endif

    /// <summary>s[i .. i + L) = v.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store<TOps, TVec>(TVec v, Span<float> s, int i)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct =>
#if CHECKED_KERNELS
        TOps.Store(v, ref MemoryMarshal.GetReference(s.Slice(i, TOps.Count)));
#else
        TOps.Store(v, ref Unsafe.Add(ref MemoryMarshal.GetReference(s), i));
#endif
}

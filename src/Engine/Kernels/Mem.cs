using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace CnnCluster.Engine.Kernels;

/// <summary>
/// The kernels' one door to memory: a <see cref="Cursor"/> into a float operand, <see cref="Get"/> for
/// a gather table. A kernel checks its operands' extents once before its loops (GatherGemm's contract);
/// in the default build the accesses inside are then unchecked (<see cref="Unsafe.Add{T}(ref T, int)"/>
/// from the first element). Built
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

    /// <summary>An entry of a gather table (float operands go through a <see cref="Cursor"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Get(ReadOnlySpan<int> s, int i) =>
#if CHECKED_KERNELS
        s[i];
#else
        Unsafe.Add(ref MemoryMarshal.GetReference(s), i);
#endif

    /// <summary>
    /// The checked build also verifies the precondition behind the kernels' one-time extent checks: a
    /// gather table ascends, so its first and last entries bound every access. (Compiled away elsewhere.)
    /// </summary>
    [System.Diagnostics.Conditional("CHECKED_KERNELS")]
    public static void RequireAscending(ReadOnlySpan<int> offsets)
    {
        for (int i = 1; i < offsets.Length; i++)
        {
            if (offsets[i] < offsets[i - 1])
            {
                throw new ArgumentException($"gather offsets do not ascend at {i}: {offsets[i - 1]}, {offsets[i]}");
            }
        }
    }
}

/// <summary>
/// A position in a float operand (made from a span, moved with <see cref="At"/>): in the default build it
/// is a bare reference (the loops compile to pointer arithmetic with the row bases in registers); in the checked
/// build it is a span, so every <see cref="At"/>, <see cref="Get"/>, <see cref="Load{TOps, TVec}"/> and
/// <see cref="Store{TOps, TVec}"/> is bounds-checked against the operand it came from.
/// </summary>
internal readonly ref struct Cursor
{
#if CHECKED_KERNELS
    private readonly Span<float> _s;

    public Cursor(ReadOnlySpan<float> s) => _s = MemoryMarshal.CreateSpan(ref MemoryMarshal.GetReference(s), s.Length);

    private Cursor(Span<float> s) => _s = s;

    /// <summary>The position <paramref name="offset"/> floats further on.</summary>
    public Cursor At(int offset) => new(_s[offset..]);

    /// <summary>The same with a native-sized offset (a loop-invariant step the JIT need not widen again).</summary>
    public Cursor At(nint offset) => new(_s[checked((int)offset)..]);

    public float Get(int i) => _s[i];

    public void Set(int i, float value) => _s[i] = value;

    public TVec Load<TOps, TVec>(int i)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct => TOps.Load(ref MemoryMarshal.GetReference(_s.Slice(i, TOps.Count)));

    public void Store<TOps, TVec>(TVec v, int i)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct => TOps.Store(v, ref MemoryMarshal.GetReference(_s.Slice(i, TOps.Count)));
#else
    private readonly ref float _r;

    public Cursor(ReadOnlySpan<float> s) => _r = ref MemoryMarshal.GetReference(s);

    private Cursor(ref float r) => _r = ref r;

    /// <summary>The position <paramref name="offset"/> floats further on.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Cursor At(int offset) => new(ref Unsafe.Add(ref _r, offset));

    /// <summary>The same with a native-sized offset (a loop-invariant step the JIT need not widen again).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Cursor At(nint offset) => new(ref Unsafe.Add(ref _r, offset));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Get(int i) => Unsafe.Add(ref _r, i);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Set(int i, float value) => Unsafe.Add(ref _r, i) = value;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TVec Load<TOps, TVec>(int i)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct => TOps.Load(ref Unsafe.Add(ref _r, i));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Store<TOps, TVec>(TVec v, int i)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct => TOps.Store(v, ref Unsafe.Add(ref _r, i));
#endif
}

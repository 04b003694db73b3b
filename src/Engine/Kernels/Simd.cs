using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace CnnCluster.Engine.Kernels;

/// <summary>
/// The vector operations the kernels are written in, one struct per width (the "how" apart from the
/// kernels' "what", as System.Numerics.Tensors does it). A kernel generic over
/// <c>TOps : struct, IVectorOps&lt;TVec&gt;</c> is compiled once per width by the JIT, with every call
/// inlined. Vector128 doubles as the fallback: it is accelerated on every CPU .NET runs on, and
/// software-emulated (scalar) elsewhere.
/// </summary>
public interface IVectorOps<TVec>
    where TVec : struct
{
    static abstract int Count { get; }

    static abstract TVec Zero { get; }

    static abstract TVec Broadcast(float value);

    static abstract TVec Load(ref float source);

    static abstract void Store(TVec value, ref float destination);

    /// <summary>a · b + c.</summary>
    static abstract TVec MultiplyAdd(TVec a, TVec b, TVec c);

    static abstract TVec Add(TVec a, TVec b);

    static abstract TVec Subtract(TVec a, TVec b);

    static abstract TVec Multiply(TVec a, TVec b);

    /// <summary>Lanes of <paramref name="value"/> where <paramref name="condition"/> &gt; 0, else 0.</summary>
    static abstract TVec WherePositive(TVec condition, TVec value);

    static abstract float Sum(TVec value);
}

public readonly struct V512 : IVectorOps<Vector512<float>>
{
    public static int Count => Vector512<float>.Count;

    public static Vector512<float> Zero => Vector512<float>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Broadcast(float value) => Vector512.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load(ref float source) => Vector512.LoadUnsafe(ref source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector512<float> value, ref float destination) => value.StoreUnsafe(ref destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> MultiplyAdd(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Vector512.FusedMultiplyAdd(a, b, c);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Subtract(Vector512<float> a, Vector512<float> b) => a - b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Multiply(Vector512<float> a, Vector512<float> b) => a * b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> WherePositive(Vector512<float> condition, Vector512<float> value) => Vector512.GreaterThan(condition, Vector512<float>.Zero) & value;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector512<float> value) => Vector512.Sum(value);
}

public readonly struct V256 : IVectorOps<Vector256<float>>
{
    public static int Count => Vector256<float>.Count;

    public static Vector256<float> Zero => Vector256<float>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Broadcast(float value) => Vector256.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load(ref float source) => Vector256.LoadUnsafe(ref source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector256<float> value, ref float destination) => value.StoreUnsafe(ref destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> MultiplyAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) => Vector256.FusedMultiplyAdd(a, b, c);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Add(Vector256<float> a, Vector256<float> b) => a + b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Subtract(Vector256<float> a, Vector256<float> b) => a - b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Multiply(Vector256<float> a, Vector256<float> b) => a * b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> WherePositive(Vector256<float> condition, Vector256<float> value) => Vector256.GreaterThan(condition, Vector256<float>.Zero) & value;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector256<float> value) => Vector256.Sum(value);
}

public readonly struct V128 : IVectorOps<Vector128<float>>
{
    public static int Count => Vector128<float>.Count;

    public static Vector128<float> Zero => Vector128<float>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Broadcast(float value) => Vector128.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Load(ref float source) => Vector128.LoadUnsafe(ref source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector128<float> value, ref float destination) => value.StoreUnsafe(ref destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> MultiplyAdd(Vector128<float> a, Vector128<float> b, Vector128<float> c) => Vector128.FusedMultiplyAdd(a, b, c);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Add(Vector128<float> a, Vector128<float> b) => a + b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Subtract(Vector128<float> a, Vector128<float> b) => a - b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Multiply(Vector128<float> a, Vector128<float> b) => a * b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> WherePositive(Vector128<float> condition, Vector128<float> value) => Vector128.GreaterThan(condition, Vector128<float>.Zero) & value;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(Vector128<float> value) => Vector128.Sum(value);
}

/// <summary>Which vector width a kernel runs at on this CPU.</summary>
public enum VectorWidth
{
    W128 = 4,
    W256 = 8,
    W512 = 16,
}

public static class Simd
{
    /// <summary>The widest accelerated width.</summary>
    public static VectorWidth Widest { get; } =
        Vector512.IsHardwareAccelerated ? VectorWidth.W512 : Vector256.IsHardwareAccelerated ? VectorWidth.W256 : VectorWidth.W128;

    /// <summary>
    /// The width for vectors over <paramref name="lanes"/> channels: the narrowest accelerated width
    /// that holds them, so 6 channels take a 256-bit vector rather than a third of a 512-bit one.
    /// </summary>
    public static VectorWidth For(int lanes)
    {
        if (lanes <= 4 || Widest == VectorWidth.W128)
        {
            return VectorWidth.W128;
        }

        return lanes <= 8 || Widest == VectorWidth.W256 ? VectorWidth.W256 : VectorWidth.W512;
    }

    /// <summary><paramref name="count"/> rounded up to a multiple of <paramref name="width"/>'s lanes.</summary>
    public static int Pad(int count, VectorWidth width) => (count + (int)width - 1) / (int)width * (int)width;
}

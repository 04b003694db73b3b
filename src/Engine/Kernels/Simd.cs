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

    static abstract TVec Divide(TVec a, TVec b);

    /// <summary>Lanes of <paramref name="value"/> where <paramref name="condition"/> &gt; 0, else 0.</summary>
    static abstract TVec WherePositive(TVec condition, TVec value);

    /// <summary>All-ones lanes where a &lt; b (false for NaN), zero lanes elsewhere.</summary>
    static abstract TVec LessThan(TVec a, TVec b);

    /// <summary>All-ones lanes where the value is NaN.</summary>
    static abstract TVec IsNaN(TVec value);

    /// <summary>Per lane: <paramref name="mask"/> bits set take <paramref name="ifTrue"/>, clear take <paramref name="ifFalse"/>.</summary>
    static abstract TVec Select(TVec mask, TVec ifTrue, TVec ifFalse);

    static abstract TVec Abs(TVec value);

    /// <summary>The magnitude of <paramref name="value"/> with the sign bit of <paramref name="sign"/>.</summary>
    static abstract TVec CopySign(TVec value, TVec sign);

    /// <summary>2^k for integral k in [−126, 127], exactly (built from the exponent bits).</summary>
    static abstract TVec Pow2(TVec k);

    /// <summary>For a positive normal x = m · 2^e with m in [1, 2): e as a float.</summary>
    static abstract TVec Exponent(TVec x);

    /// <summary>For a positive normal x = m · 2^e with m in [1, 2): m.</summary>
    static abstract TVec Mantissa(TVec x);
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
    public static Vector512<float> Divide(Vector512<float> a, Vector512<float> b) => a / b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> LessThan(Vector512<float> a, Vector512<float> b) => Vector512.LessThan(a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> IsNaN(Vector512<float> value) => ~Vector512.Equals(value, value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Select(Vector512<float> mask, Vector512<float> ifTrue, Vector512<float> ifFalse) => Vector512.ConditionalSelect(mask, ifTrue, ifFalse);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Abs(Vector512<float> value) => Vector512.AndNot(value, Vector512.Create(-0f));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> CopySign(Vector512<float> value, Vector512<float> sign) => Vector512.AndNot(value, Vector512.Create(-0f)) | (sign & Vector512.Create(-0f));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Pow2(Vector512<float> k) => Vector512.ShiftLeft(Vector512.ConvertToInt32(k) + Vector512.Create(127), 23).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exponent(Vector512<float> x) => Vector512.ConvertToSingle(Vector512.ShiftRightLogical(x.AsInt32(), 23) - Vector512.Create(127));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Mantissa(Vector512<float> x) => ((x.AsInt32() & Vector512.Create(0x007FFFFF)) | Vector512.Create(0x3F800000)).AsSingle();
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
    public static Vector256<float> Divide(Vector256<float> a, Vector256<float> b) => a / b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> LessThan(Vector256<float> a, Vector256<float> b) => Vector256.LessThan(a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> IsNaN(Vector256<float> value) => ~Vector256.Equals(value, value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Select(Vector256<float> mask, Vector256<float> ifTrue, Vector256<float> ifFalse) => Vector256.ConditionalSelect(mask, ifTrue, ifFalse);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Abs(Vector256<float> value) => Vector256.AndNot(value, Vector256.Create(-0f));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> CopySign(Vector256<float> value, Vector256<float> sign) => Vector256.AndNot(value, Vector256.Create(-0f)) | (sign & Vector256.Create(-0f));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Pow2(Vector256<float> k) => Vector256.ShiftLeft(Vector256.ConvertToInt32(k) + Vector256.Create(127), 23).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exponent(Vector256<float> x) => Vector256.ConvertToSingle(Vector256.ShiftRightLogical(x.AsInt32(), 23) - Vector256.Create(127));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Mantissa(Vector256<float> x) => ((x.AsInt32() & Vector256.Create(0x007FFFFF)) | Vector256.Create(0x3F800000)).AsSingle();
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
    public static Vector128<float> Divide(Vector128<float> a, Vector128<float> b) => a / b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> LessThan(Vector128<float> a, Vector128<float> b) => Vector128.LessThan(a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> IsNaN(Vector128<float> value) => ~Vector128.Equals(value, value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Select(Vector128<float> mask, Vector128<float> ifTrue, Vector128<float> ifFalse) => Vector128.ConditionalSelect(mask, ifTrue, ifFalse);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Abs(Vector128<float> value) => Vector128.AndNot(value, Vector128.Create(-0f));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> CopySign(Vector128<float> value, Vector128<float> sign) => Vector128.AndNot(value, Vector128.Create(-0f)) | (sign & Vector128.Create(-0f));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Pow2(Vector128<float> k) => Vector128.ShiftLeft(Vector128.ConvertToInt32(k) + Vector128.Create(127), 23).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Exponent(Vector128<float> x) => Vector128.ConvertToSingle(Vector128.ShiftRightLogical(x.AsInt32(), 23) - Vector128.Create(127));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Mantissa(Vector128<float> x) => ((x.AsInt32() & Vector128.Create(0x007FFFFF)) | Vector128.Create(0x3F800000)).AsSingle();
}

/// <summary>
/// A vector width in lanes. Layouts are chosen in these logical widths from the shapes alone
/// (<see cref="Simd.For"/>), never from the CPU, and a kernel runs them on the widest registers the
/// CPU has up to that width (<see cref="Simd.Physical"/>): a 16-lane row is one 512-bit vector, two
/// 256-bit ones or four 128-bit ones. Lanes never mix in the kernels, so the bits are the same.
/// </summary>
public enum VectorWidth
{
    W128 = 4,
    W256 = 8,
    W512 = 16,
}

public static class Simd
{
    /// <summary>The widest accelerated width of this CPU (128 also when nothing is accelerated: software vectors).</summary>
    public static VectorWidth Widest { get; } =
        Vector512.IsHardwareAccelerated ? VectorWidth.W512 : Vector256.IsHardwareAccelerated ? VectorWidth.W256 : VectorWidth.W128;

    /// <summary>
    /// The logical width for vectors over <paramref name="lanes"/> channels: the narrowest that holds
    /// them, so 6 channels take 8 lanes rather than a third of 16. A function of the shape only.
    /// </summary>
    public static VectorWidth For(int lanes) => lanes <= 4 ? VectorWidth.W128 : lanes <= 8 ? VectorWidth.W256 : VectorWidth.W512;

    /// <summary>The registers a row of <paramref name="logical"/> lanes runs on here: the logical width, or the widest this CPU has if narrower.</summary>
    public static VectorWidth Physical(VectorWidth logical) => (VectorWidth)Math.Min((int)logical, (int)Widest);

    /// <summary><paramref name="count"/> rounded up to a multiple of <paramref name="width"/>'s lanes.</summary>
    public static int Pad(int count, VectorWidth width) => (count + (int)width - 1) / (int)width * (int)width;
}

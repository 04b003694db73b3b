using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace CnnCluster.Engine.Kernels;

/// <summary>An elementwise function of two inputs (the "what"), for a scalar and for a vector of any width.</summary>
public interface IBinaryOperator
{
    static abstract float Invoke(float a, float b);

    static abstract TVec Invoke<TOps, TVec>(TVec a, TVec b)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct;
}

/// <summary>The one loop over two inputs (the "how"): the widest accelerated vectors, narrower ones, then a scalar tail.</summary>
public static class Elementwise
{
    /// <summary>result = x · s + addend per element, fused (one rounding) on every path, in place allowed.</summary>
    public static void MultiplyAdd(ReadOnlySpan<float> x, float s, ReadOnlySpan<float> addend, Span<float> result)
    {
        int n = result.Length;
        if (x.Length < n || addend.Length < n)
        {
            throw new ArgumentException("inputs are shorter than the result");
        }

        ref float rx = ref MemoryMarshal.GetReference(x);
        ref float ra = ref MemoryMarshal.GetReference(addend);
        ref float rr = ref MemoryMarshal.GetReference(result);
        int i = Simd.Widest switch
        {
            VectorWidth.W512 => MultiplyAdd<V512, Vector512<float>>(ref rx, s, ref ra, ref rr, n),
            VectorWidth.W256 => MultiplyAdd<V256, Vector256<float>>(ref rx, s, ref ra, ref rr, n),
            _ => MultiplyAdd<V128, Vector128<float>>(ref rx, s, ref ra, ref rr, n),
        };
        for (; i < n; i++)
        {
            Unsafe.Add(ref rr, i) = MathF.FusedMultiplyAdd(Unsafe.Add(ref rx, i), s, Unsafe.Add(ref ra, i));
        }
    }

    private static int MultiplyAdd<TOps, TVec>(ref float x, float s, ref float addend, ref float result, int n)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct
    {
        TVec sv = TOps.Broadcast(s);
        int i = 0;
        for (; i <= n - TOps.Count; i += TOps.Count)
        {
            TOps.Store(TOps.MultiplyAdd(TOps.Load(ref Unsafe.Add(ref x, i)), sv, TOps.Load(ref Unsafe.Add(ref addend, i))), ref Unsafe.Add(ref result, i));
        }

        return i;
    }

    public static void Map<TOp>(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> result)
        where TOp : struct, IBinaryOperator
    {
        int n = result.Length;
        if (a.Length < n || b.Length < n)
        {
            throw new ArgumentException("inputs are shorter than the result");
        }

        ref float ra = ref MemoryMarshal.GetReference(a);
        ref float rb = ref MemoryMarshal.GetReference(b);
        ref float rr = ref MemoryMarshal.GetReference(result);
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            i = Vectors<TOp, V512, Vector512<float>>(ref ra, ref rb, ref rr, i, n);
        }

        if (Vector256.IsHardwareAccelerated)
        {
            i = Vectors<TOp, V256, Vector256<float>>(ref ra, ref rb, ref rr, i, n);
        }

        for (; i < n; i++)
        {
            Unsafe.Add(ref rr, i) = TOp.Invoke(Unsafe.Add(ref ra, i), Unsafe.Add(ref rb, i));
        }
    }

    // whole vectors from i on; returns where they stop
    private static int Vectors<TOp, TOps, TVec>(ref float a, ref float b, ref float result, int i, int n)
        where TOp : struct, IBinaryOperator
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct
    {
        for (; i <= n - TOps.Count; i += TOps.Count)
        {
            TOps.Store(TOp.Invoke<TOps, TVec>(TOps.Load(ref Unsafe.Add(ref a, i)), TOps.Load(ref Unsafe.Add(ref b, i))), ref Unsafe.Add(ref result, i));
        }

        return i;
    }
}

/// <summary>ReLU backward from the output: dy where y &gt; 0, else 0.</summary>
public readonly struct ReluGrad : IBinaryOperator
{
    public static float Invoke(float y, float dy) => y > 0f ? dy : 0f;

    public static TVec Invoke<TOps, TVec>(TVec y, TVec dy)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct => TOps.WherePositive(y, dy);
}

/// <summary>Sigmoid backward from the output: dy · y (1 − y).</summary>
public readonly struct SigmoidGrad : IBinaryOperator
{
    public static float Invoke(float y, float dy) => dy * y * (1f - y);

    public static TVec Invoke<TOps, TVec>(TVec y, TVec dy)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct => TOps.Multiply(TOps.Multiply(dy, y), TOps.Subtract(TOps.Broadcast(1f), y));
}

/// <summary>Tanh backward from the output: dy · (1 − y²).</summary>
public readonly struct TanhGrad : IBinaryOperator
{
    public static float Invoke(float y, float dy) => dy * (1f - y * y);

    public static TVec Invoke<TOps, TVec>(TVec y, TVec dy)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct => TOps.Multiply(dy, TOps.Subtract(TOps.Broadcast(1f), TOps.Multiply(y, y)));
}

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

        int i = Simd.Widest switch
        {
            VectorWidth.W512 => MultiplyAdd<V512, Vector512<float>>(x, s, addend, result),
            VectorWidth.W256 => MultiplyAdd<V256, Vector256<float>>(x, s, addend, result),
            _ => MultiplyAdd<V128, Vector128<float>>(x, s, addend, result),
        };
        for (; i < n; i++)
        {
            Mem.At(result, i) = MathF.FusedMultiplyAdd(Mem.Get(x, i), s, Mem.Get(addend, i));
        }
    }

    private static int MultiplyAdd<TOps, TVec>(ReadOnlySpan<float> x, float s, ReadOnlySpan<float> addend, Span<float> result)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct
    {
        TVec sv = TOps.Broadcast(s);
        int i = 0, lanes = TOps.Count;

        // four vectors a pass: the optimizer streams the whole parameter buffer several times a step
        for (; i <= result.Length - (4 * lanes); i += 4 * lanes)
        {
            TVec r0 = TOps.MultiplyAdd(Mem.Load<TOps, TVec>(x, i), sv, Mem.Load<TOps, TVec>(addend, i));
            TVec r1 = TOps.MultiplyAdd(Mem.Load<TOps, TVec>(x, i + lanes), sv, Mem.Load<TOps, TVec>(addend, i + lanes));
            TVec r2 = TOps.MultiplyAdd(Mem.Load<TOps, TVec>(x, i + (2 * lanes)), sv, Mem.Load<TOps, TVec>(addend, i + (2 * lanes)));
            TVec r3 = TOps.MultiplyAdd(Mem.Load<TOps, TVec>(x, i + (3 * lanes)), sv, Mem.Load<TOps, TVec>(addend, i + (3 * lanes)));
            Mem.Store<TOps, TVec>(r0, result, i);
            Mem.Store<TOps, TVec>(r1, result, i + lanes);
            Mem.Store<TOps, TVec>(r2, result, i + (2 * lanes));
            Mem.Store<TOps, TVec>(r3, result, i + (3 * lanes));
        }

        for (; i <= result.Length - lanes; i += lanes)
        {
            Mem.Store<TOps, TVec>(TOps.MultiplyAdd(Mem.Load<TOps, TVec>(x, i), sv, Mem.Load<TOps, TVec>(addend, i)), result, i);
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

        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            i = Vectors<TOp, V512, Vector512<float>>(a, b, result, i);
        }

        if (Vector256.IsHardwareAccelerated)
        {
            i = Vectors<TOp, V256, Vector256<float>>(a, b, result, i);
        }

        for (; i < n; i++)
        {
            Mem.At(result, i) = TOp.Invoke(Mem.Get(a, i), Mem.Get(b, i));
        }
    }

    // whole vectors from i on; returns where they stop
    private static int Vectors<TOp, TOps, TVec>(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> result, int i)
        where TOp : struct, IBinaryOperator
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct
    {
        for (; i <= result.Length - TOps.Count; i += TOps.Count)
        {
            Mem.Store<TOps, TVec>(TOp.Invoke<TOps, TVec>(Mem.Load<TOps, TVec>(a, i), Mem.Load<TOps, TVec>(b, i)), result, i);
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

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

/// <summary>The elementwise loops (the "how"): over two inputs, the widest accelerated vectors, narrower ones, then a scalar tail; over one input for the transcendentals, vectors down to a zero-padded last one.</summary>
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
            result[i] = MathF.FusedMultiplyAdd(x[i], s, addend[i]);
        }
    }

    private static int MultiplyAdd<TOps, TVec>(ReadOnlySpan<float> x, float s, ReadOnlySpan<float> addend, Span<float> result)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct
    {
        TVec sv = TOps.Broadcast(s);
        Cursor cx = new(x), ca = new(addend), cr = new(result);
        int i = 0;
        for (; i <= result.Length - TOps.Count; i += TOps.Count)
        {
            cr.Store<TOps, TVec>(TOps.MultiplyAdd(cx.Load<TOps, TVec>(i), sv, ca.Load<TOps, TVec>(i)), i);
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
            result[i] = TOp.Invoke(a[i], b[i]);
        }
    }

    // whole vectors from i on; returns where they stop
    private static int Vectors<TOp, TOps, TVec>(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> result, int i)
        where TOp : struct, IBinaryOperator
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct
    {
        Cursor ca = new(a), cb = new(b), cr = new(result);
        for (; i <= result.Length - TOps.Count; i += TOps.Count)
        {
            cr.Store<TOps, TVec>(TOp.Invoke<TOps, TVec>(ca.Load<TOps, TVec>(i), cb.Load<TOps, TVec>(i)), i);
        }

        return i;
    }

    /// <summary>
    /// y = f(x) (in place allowed) for a function whose bits must not depend on the path: whole vectors at
    /// the widest width, then 128-bit ones, then the tail as one zero-padded 128-bit vector, never a scalar formula.
    /// </summary>
    public static void Map<TOp>(ReadOnlySpan<float> x, Span<float> y)
        where TOp : struct, IUnaryOperator
    {
        int n = x.Length;
        if (y.Length < n)
        {
            throw new ArgumentException("the result is shorter than the input");
        }

        int i = Simd.Widest switch
        {
            VectorWidth.W512 => Vectors<TOp, V512, Vector512<float>>(x, y, 0, n),
            VectorWidth.W256 => Vectors<TOp, V256, Vector256<float>>(x, y, 0, n),
            _ => 0,
        };
        i = Vectors<TOp, V128, Vector128<float>>(x, y, i, n);
        if (i < n)
        {
            Span<float> tail = stackalloc float[4];
            tail.Clear();
            x[i..n].CopyTo(tail);
            Vector128<float> v = TOp.Invoke<V128, Vector128<float>>(Vector128.Create((ReadOnlySpan<float>)tail));
            for (int j = 0; i + j < n; j++)
            {
                y[i + j] = v.GetElement(j);
            }
        }
    }

    /// <summary>f(x) for one value: one lane of a 128-bit vector, so the same bits as <see cref="Map{TOp}(ReadOnlySpan{float}, Span{float})"/>.</summary>
    public static float Invoke<TOp>(float x)
        where TOp : struct, IUnaryOperator =>
        TOp.Invoke<V128, Vector128<float>>(Vector128.Create(x)).ToScalar();

    // whole vectors of x[i..n); returns where they stop
    private static int Vectors<TOp, TOps, TVec>(ReadOnlySpan<float> x, Span<float> y, int i, int n)
        where TOp : struct, IUnaryOperator
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct
    {
        Cursor cx = new(x), cy = new(y);
        for (; i <= n - TOps.Count; i += TOps.Count)
        {
            cy.Store<TOps, TVec>(TOp.Invoke<TOps, TVec>(cx.Load<TOps, TVec>(i)), i);
        }

        return i;
    }
}

/// <summary>An elementwise function of one input (the "what"), for a vector of any width.</summary>
public interface IUnaryOperator
{
    static abstract TVec Invoke<TOps, TVec>(TVec x)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct;
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

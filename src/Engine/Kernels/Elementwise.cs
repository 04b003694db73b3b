using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace CnnCluster.Engine.Kernels;

/// <summary>An elementwise function of two inputs, at every width (the "what").</summary>
public interface IBinaryOperator
{
    static abstract float Invoke(float a, float b);

    static abstract Vector512<float> Invoke(Vector512<float> a, Vector512<float> b);

    static abstract Vector256<float> Invoke(Vector256<float> a, Vector256<float> b);
}

/// <summary>The one loop over two inputs (the "how"): the widest accelerated vectors, then a scalar tail.</summary>
public static class Elementwise
{
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
            for (; i <= n - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                TOp.Invoke(Vector512.LoadUnsafe(ref ra, (nuint)i), Vector512.LoadUnsafe(ref rb, (nuint)i)).StoreUnsafe(ref rr, (nuint)i);
            }
        }

        if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= n - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                TOp.Invoke(Vector256.LoadUnsafe(ref ra, (nuint)i), Vector256.LoadUnsafe(ref rb, (nuint)i)).StoreUnsafe(ref rr, (nuint)i);
            }
        }

        for (; i < n; i++)
        {
            Unsafe.Add(ref rr, i) = TOp.Invoke(Unsafe.Add(ref ra, i), Unsafe.Add(ref rb, i));
        }
    }
}

/// <summary>ReLU backward from the output: dy where y &gt; 0, else 0.</summary>
public readonly struct ReluGrad : IBinaryOperator
{
    public static float Invoke(float y, float dy) => y > 0f ? dy : 0f;

    public static Vector512<float> Invoke(Vector512<float> y, Vector512<float> dy) => Vector512.GreaterThan(y, Vector512<float>.Zero) & dy;

    public static Vector256<float> Invoke(Vector256<float> y, Vector256<float> dy) => Vector256.GreaterThan(y, Vector256<float>.Zero) & dy;
}

/// <summary>Sigmoid backward from the output: dy · y (1 − y).</summary>
public readonly struct SigmoidGrad : IBinaryOperator
{
    public static float Invoke(float y, float dy) => dy * y * (1f - y);

    public static Vector512<float> Invoke(Vector512<float> y, Vector512<float> dy) => dy * y * (Vector512<float>.One - y);

    public static Vector256<float> Invoke(Vector256<float> y, Vector256<float> dy) => dy * y * (Vector256<float>.One - y);
}

/// <summary>Tanh backward from the output: dy · (1 − y²).</summary>
public readonly struct TanhGrad : IBinaryOperator
{
    public static float Invoke(float y, float dy) => dy * (1f - y * y);

    public static Vector512<float> Invoke(Vector512<float> y, Vector512<float> dy) => dy * (Vector512<float>.One - y * y);

    public static Vector256<float> Invoke(Vector256<float> y, Vector256<float> dy) => dy * (Vector256<float>.One - y * y);
}

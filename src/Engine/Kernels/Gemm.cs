using System.Numerics.Tensors;

namespace CnnCluster.Engine.Kernels;

/// <summary>
/// Row-major single-precision matrix products, the one place that decides how the engine multiplies
/// matrices. Every form accumulates into C (callers zero C when they want an assignment).
/// The inner loops run over contiguous rows through TensorPrimitives, which picks the SIMD width
/// (Vector512 / Vector256 / scalar) for this CPU. Summation order depends only on the shapes, so a
/// product is bit-reproducible for the same inputs on the same machine.
/// </summary>
public static class Gemm
{
    /// <summary>C (m×n) += A (m×k) · B (k×n).</summary>
    public static void MatMulAdd(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int k, int n)
    {
        for (int i = 0; i < m; i++)
        {
            Span<float> cRow = c.Slice(i * n, n);
            ReadOnlySpan<float> aRow = a.Slice(i * k, k);
            for (int p = 0; p < k; p++)
            {
                float s = aRow[p];
                if (s != 0f)
                {
                    TensorPrimitives.MultiplyAdd(b.Slice(p * n, n), s, cRow, cRow);
                }
            }
        }
    }

    /// <summary>C (m×n) += A (m×k) · Bᵀ where B is (n×k).</summary>
    public static void MatMulTransBAdd(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int k, int n)
    {
        for (int i = 0; i < m; i++)
        {
            ReadOnlySpan<float> aRow = a.Slice(i * k, k);
            Span<float> cRow = c.Slice(i * n, n);
            for (int j = 0; j < n; j++)
            {
                cRow[j] += TensorPrimitives.Dot(aRow, b.Slice(j * k, k));
            }
        }
    }

    /// <summary>C (m×n) += Aᵀ · B where A is (k×m) and B is (k×n).</summary>
    public static void MatMulTransAAdd(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int k, int n)
    {
        for (int p = 0; p < k; p++)
        {
            ReadOnlySpan<float> aRow = a.Slice(p * m, m);
            ReadOnlySpan<float> bRow = b.Slice(p * n, n);
            for (int i = 0; i < m; i++)
            {
                float s = aRow[i];
                if (s != 0f)
                {
                    Span<float> cRow = c.Slice(i * n, n);
                    TensorPrimitives.MultiplyAdd(bRow, s, cRow, cRow);
                }
            }
        }
    }
}

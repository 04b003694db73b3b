namespace CnnCluster.Engine.Kernels;

/// <summary>
/// Row-major single-precision matrix products, the one place that decides how the engine multiplies
/// matrices. Every form accumulates into C (callers zero C when they want an assignment). Every
/// element of C is a chain of fused multiply-adds over the terms in order, whichever form and
/// register width computes it, so a product has the same bits on every CPU (README, numeric contract).
/// </summary>
public static class Gemm
{
    /// <summary>C (m×n) += A (m×k) · B (k×n).</summary>
    public static void MatMulAdd(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int k, int n)
    {
        if (Gathered(a, rowStride: k, termStride: 1, b, c, m, k, n))
        {
            return;
        }

        for (int i = 0; i < m; i++)
        {
            Span<float> cRow = c.Slice(i * n, n);
            ReadOnlySpan<float> aRow = a.Slice(i * k, k);
            for (int p = 0; p < k; p++)
            {
                Elementwise.MultiplyAdd(b.Slice(p * n, n), aRow[p], cRow, cRow);
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
                ReadOnlySpan<float> bRow = b.Slice(j * k, k);
                float sum = 0;
                for (int p = 0; p < k; p++)
                {
                    sum = MathF.FusedMultiplyAdd(aRow[p], bRow[p], sum);
                }

                cRow[j] += sum;
            }
        }
    }

    /// <summary>C (m×n) += Aᵀ · B where A is (k×m) and B is (k×n).</summary>
    public static void MatMulTransAAdd(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int k, int n)
    {
        if (Gathered(a, rowStride: 1, termStride: m, b, c, m, k, n))
        {
            return;
        }

        for (int p = 0; p < k; p++)
        {
            ReadOnlySpan<float> aRow = a.Slice(p * m, m);
            ReadOnlySpan<float> bRow = b.Slice(p * n, n);
            for (int i = 0; i < m; i++)
            {
                Span<float> cRow = c.Slice(i * n, n);
                Elementwise.MultiplyAdd(bRow, aRow[i], cRow, cRow);
            }
        }
    }

    /// <summary>
    /// C (m×n) += A · B on the <see cref="GatherGemm"/> microkernel, with A's element (i, p) at
    /// a[i·rowStride + p·termStride]: 8 rows of C at a time held in registers across all k terms, instead
    /// of a pass over a row of C per term. Applies when a vector of 16, 8 or 4 lanes divides n; false
    /// otherwise (the callers then use the row forms above). The choice depends on n alone, not on the CPU.
    /// </summary>
    private static bool Gathered(ReadOnlySpan<float> a, int rowStride, int termStride, ReadOnlySpan<float> b, Span<float> c, int m, int k, int n)
    {
        VectorWidth width = VectorWidth.W512;
        while (n % (int)width != 0 && width != VectorWidth.W128)
        {
            width = width == VectorWidth.W512 ? VectorWidth.W256 : VectorWidth.W128;
        }

        if (n % (int)width != 0 || k is < 1 or > MaxGatheredTerms || m < 1)
        {
            return false;
        }

        Span<int> offsets = stackalloc int[k];
        for (int p = 0; p < k; p++)
        {
            offsets[p] = p * termStride;
        }

        Span<int> rows = stackalloc int[GatherGemm.Rows];
        for (int i = 0; i < m; i += GatherGemm.Rows)
        {
            for (int r = 0; r < GatherGemm.Rows; r++)
            {
                rows[r] = Math.Min(i + r, m - 1) * rowStride;
            }

            GatherGemm.Tile(width, a, rows, offsets, b, n, n / (int)width, c[(i * n)..], n, Math.Min(GatherGemm.Rows, m - i), accumulate: true);
        }

        return true;
    }

    private const int MaxGatheredTerms = 4096;
}

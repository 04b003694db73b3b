namespace CnnCluster.Engine.Kernels;

/// <summary>
/// exp and log in double for the loss head, written in IEEE operations and fused multiply-adds only
/// (the same formulas as <see cref="FloatMath"/> with longer polynomials), so that they do not
/// depend on the C library of the machine: the loss and its softmax are smooth enough for finite
/// differences and the same bits everywhere. Scalar: the head takes ten of each per sample.
/// </summary>
public static class DoubleMath
{
    /// <summary>e^x within about 1 ulp; 0 below −746, ∞ above 710, NaN stays NaN.</summary>
    public static double Exp(double x)
    {
        if (double.IsNaN(x))
        {
            return x;
        }

        double xc = Math.Clamp(x, -746.0, 710.0);
        double k = Math.Round(xc * Log2E, MidpointRounding.ToEven);
        double r = Math.FusedMultiplyAdd(k, -Ln2Hi, xc);
        r = Math.FusedMultiplyAdd(k, -Ln2Lo, r);

        // e^r, |r| ≤ ln2/2, by its Taylor polynomial to r¹³ (truncation below 10⁻¹⁷)
        double p = InverseFactorial[13];
        for (int i = 12; i >= 1; i--)
        {
            p = Math.FusedMultiplyAdd(p, r, InverseFactorial[i]);
        }

        p = Math.FusedMultiplyAdd(p, r, 1.0);
        double k1 = Math.Round(k * 0.5, MidpointRounding.ToEven);
        return p * Pow2(k1) * Pow2(k - k1);
    }

    /// <summary>ln x within about 1 ulp; −∞ at 0, NaN below 0, ∞ at ∞.</summary>
    public static double Log(double x)
    {
        if (double.IsNaN(x) || x < 0)
        {
            return double.NaN;
        }

        if (x == 0)
        {
            return double.NegativeInfinity;
        }

        if (double.IsPositiveInfinity(x))
        {
            return x;
        }

        long bits = BitConverter.DoubleToInt64Bits(x);
        int e = (int)(bits >> 52) - 1023;
        if (e == -1023)
        {
            // subnormal: scale into the normal range first
            bits = BitConverter.DoubleToInt64Bits(x * TwoTo54);
            e = (int)(bits >> 52) - 1023 - 54;
        }

        double m = BitConverter.Int64BitsToDouble((bits & 0x000FFFFFFFFFFFFFL) | 0x3FF0000000000000L);
        if (m > Sqrt2)
        {
            m *= 0.5;
            e++;
        }

        // log(1 + f) = f − (f²/2 − s·(f²/2 + R)), s = f / (2 + f), R = Σ 2·s^(2j) / (2j + 1)
        double f = m - 1.0, s = f / (2.0 + f), z = s * s;
        double rr = 2.0 / 23.0;
        for (int j = 10; j >= 1; j--)
        {
            rr = Math.FusedMultiplyAdd(rr, z, 2.0 / ((2 * j) + 1));
        }

        rr *= z;
        double hfsq = 0.5 * f * f;
        double log1p = f - (hfsq - (s * (hfsq + rr)));
        return Math.FusedMultiplyAdd(e, Ln2Hi, Math.FusedMultiplyAdd(e, Ln2Lo, log1p));
    }

    /// <summary>cos(π·u) for u in [0, 1], within about 1 ulp: the cosine learning-rate schedule.</summary>
    public static double CosPi(double u)
    {
        if (!(u >= 0 && u <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(u), u, "CosPi takes u in [0, 1]");
        }

        // cos(π·u) = −cos(π·(1 − u)) above ½, = sin(π·(½ − u)) above ¼ (both differences exact), so the
        // series below only see arguments up to π/4 and no cancellation
        if (u > 0.5)
        {
            return -CosPi(1 - u);
        }

        bool bySine = u > 0.25;
        double x = Math.PI * (bySine ? 0.5 - u : u), x2 = x * x;

        // Taylor series of cos and sin to x²⁰ and x²¹, truncation below 10⁻²⁰ on [0, π/4]
        double c = InverseFactorial[bySine ? 21 : 20];
        for (int k = 9; k >= 1; k--)
        {
            c = Math.FusedMultiplyAdd(c, -x2, InverseFactorial[(2 * k) + (bySine ? 1 : 0)]);
        }

        c = Math.FusedMultiplyAdd(c, -x2, 1.0);
        return bySine ? x * c : c;
    }

    /// <summary>b^n for an integer n ≥ 0 by repeated squaring: only IEEE multiplications, in a fixed order.</summary>
    public static double Power(double b, long n)
    {
        double result = 1, square = b;
        for (; n > 0; n >>= 1)
        {
            if ((n & 1) != 0)
            {
                result *= square;
            }

            square *= square;
        }

        return result;
    }

    private const double Log2E = 1.4426950408889634;
    private const double Ln2Hi = 6.93147180369123816490e-01; // ln 2 with its last 32 bits zero: k·Ln2Hi is exact
    private const double Ln2Lo = 1.90821492927058770002e-10; // ln 2 − Ln2Hi
    private const double Sqrt2 = 1.4142135623730951;
    private const double TwoTo54 = 18014398509481984.0;

    // 1/n! for n ≤ 21, once: n! is exact in double that far, so each entry is the correctly rounded 1/n!
    private static readonly double[] InverseFactorial = [.. Enumerable.Range(0, 22).Select(n => 1.0 / Enumerable.Range(1, n).Aggregate(1.0, (f, i) => f * i))];

    // 2^k for integral k in [−1022, 1023], from the exponent bits
    private static double Pow2(double k) => BitConverter.Int64BitsToDouble((long)(k + 1023) << 52);
}

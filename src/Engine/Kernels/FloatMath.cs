using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace CnnCluster.Engine.Kernels;

/// <summary>
/// The engine's transcendentals (exp, log, tanh, sigmoid) in float, written once over the vector
/// operations: every step is an IEEE operation on one lane (add, multiply, divide, fused multiply-add,
/// bit moves, selects), so 512-, 256- and 128-bit registers and .NET's software vectors give the same
/// bits. Spans run whole vectors and then one zero-padded vector for the tail, and a single value runs
/// as one lane of a 128-bit vector: there is no separate scalar formula to disagree with. Accuracy
/// against the double-precision result over the whole float range is tested (FloatMathTests) and
/// quoted in README's numeric contract.
/// </summary>
public static class FloatMath
{
    public static float Exp(float x) => Elementwise.Invoke<ExpOperator>(x);

    public static float Log(float x) => Elementwise.Invoke<LogOperator>(x);

    public static float Tanh(float x) => Elementwise.Invoke<TanhOperator>(x);

    public static float Sigmoid(float x) => Elementwise.Invoke<SigmoidOperator>(x);

    public static void Exp(ReadOnlySpan<float> x, Span<float> y) => Elementwise.Map<ExpOperator>(x, y);

    public static void Log(ReadOnlySpan<float> x, Span<float> y) => Elementwise.Map<LogOperator>(x, y);

    public static void Tanh(ReadOnlySpan<float> x, Span<float> y) => Elementwise.Map<TanhOperator>(x, y);

    public static void Sigmoid(ReadOnlySpan<float> x, Span<float> y) => Elementwise.Map<SigmoidOperator>(x, y);

    // e^x: x = k·ln2 + r with |r| ≤ ln2/2 (k by rounding, r by Cody–Waite in two fused steps, exact
    // for the first), e^r by its degree-7 Taylor polynomial (truncation < 0.13 ulp), then 2^k in two
    // exact halves so that results near overflow and in the subnormal range round once.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static TVec Exp<TOps, TVec>(TVec x)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct
    {
        // clamp to [−104, 89] (NaN to 89): beyond, the result is 0 or ∞ anyway and k stays in range
        TVec xc = TOps.Select(TOps.LessThan(x, TOps.Broadcast(89f)), x, TOps.Broadcast(89f));
        xc = TOps.Select(TOps.LessThan(TOps.Broadcast(-104f), xc), xc, TOps.Broadcast(-104f));
        TVec k = RoundToInteger<TOps, TVec>(TOps.Multiply(xc, TOps.Broadcast(Log2E)));
        TVec r = TOps.MultiplyAdd(k, TOps.Broadcast(-Ln2Hi), xc);
        r = TOps.MultiplyAdd(k, TOps.Broadcast(-Ln2Lo), r);
        TVec p = TOps.Broadcast(1f / 5040f);
        p = TOps.MultiplyAdd(p, r, TOps.Broadcast(1f / 720f));
        p = TOps.MultiplyAdd(p, r, TOps.Broadcast(1f / 120f));
        p = TOps.MultiplyAdd(p, r, TOps.Broadcast(1f / 24f));
        p = TOps.MultiplyAdd(p, r, TOps.Broadcast(1f / 6f));
        p = TOps.MultiplyAdd(p, r, TOps.Broadcast(0.5f));
        p = TOps.MultiplyAdd(p, r, TOps.Broadcast(1f));
        p = TOps.MultiplyAdd(p, r, TOps.Broadcast(1f));
        TVec k1 = RoundToInteger<TOps, TVec>(TOps.Multiply(k, TOps.Broadcast(0.5f)));
        TVec k2 = TOps.Subtract(k, k1);
        TVec y = TOps.Multiply(TOps.Multiply(p, TOps.Pow2(k1)), TOps.Pow2(k2));
        return TOps.Select(TOps.IsNaN(x), x, y);
    }

    // log x = e·ln2 + log1p(f) with x = 2^e · (1 + f), 1 + f in [√½, √2); log1p(f) = 2·atanh(s) with
    // s = f / (2 + f), written as f − (f²/2 − s·(f²/2 + R)) so that the rounding of s is damped.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static TVec Log<TOps, TVec>(TVec x)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct
    {
        TVec subnormal = TOps.LessThan(x, TOps.Broadcast(MinNormal));
        TVec xs = TOps.Select(subnormal, TOps.Multiply(x, TOps.Broadcast(TwoTo23)), x);
        TVec e = TOps.Subtract(TOps.Exponent(xs), TOps.Select(subnormal, TOps.Broadcast(23f), TOps.Zero));
        TVec m = TOps.Mantissa(xs);
        TVec big = TOps.LessThan(TOps.Broadcast(Sqrt2), m);
        m = TOps.Select(big, TOps.Multiply(m, TOps.Broadcast(0.5f)), m);
        e = TOps.Add(e, TOps.Select(big, TOps.Broadcast(1f), TOps.Zero));
        TVec f = TOps.Subtract(m, TOps.Broadcast(1f));
        TVec s = TOps.Divide(f, TOps.Add(f, TOps.Broadcast(2f)));
        TVec z = TOps.Multiply(s, s);
        TVec r = TOps.Broadcast(2f / 13f);
        r = TOps.MultiplyAdd(r, z, TOps.Broadcast(2f / 11f));
        r = TOps.MultiplyAdd(r, z, TOps.Broadcast(2f / 9f));
        r = TOps.MultiplyAdd(r, z, TOps.Broadcast(2f / 7f));
        r = TOps.MultiplyAdd(r, z, TOps.Broadcast(2f / 5f));
        r = TOps.MultiplyAdd(r, z, TOps.Broadcast(2f / 3f));
        r = TOps.Multiply(r, z);
        TVec hfsq = TOps.Multiply(TOps.Broadcast(0.5f), TOps.Multiply(f, f));
        TVec log1p = TOps.Subtract(f, TOps.Subtract(hfsq, TOps.Multiply(s, TOps.Add(hfsq, r))));
        TVec y = TOps.MultiplyAdd(e, TOps.Broadcast(Ln2Hi), TOps.MultiplyAdd(e, TOps.Broadcast(Ln2Lo), log1p));

        // log 0 = −∞, log of a negative or NaN = NaN, log ∞ = ∞
        y = TOps.Select(TOps.LessThan(x, TOps.Broadcast(float.PositiveInfinity)), y, x);
        y = TOps.Select(TOps.LessThan(x, TOps.Zero), TOps.Broadcast(float.NaN), y);
        y = TOps.Select(TOps.LessThan(TOps.Abs(x), TOps.Broadcast(float.Epsilon)), TOps.Broadcast(float.NegativeInfinity), y);
        return TOps.Select(TOps.IsNaN(x), x, y);
    }

    // tanh x: below 0.55 in magnitude its odd Taylor series to x¹⁹ (tanh(±0) = ±0, tanh x = x for tiny
    // x); above, 1 − 2 / (e^{2|x|} + 1) with the sign of x (1 from about 9 on, NaN stays NaN).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static TVec Tanh<TOps, TVec>(TVec x)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct
    {
        TVec ax = TOps.Abs(x);
        TVec x2 = TOps.Multiply(x, x);
        TVec p = TOps.Broadcast(-443861162f / 1856156927625f);
        p = TOps.MultiplyAdd(p, x2, TOps.Broadcast(6404582f / 10854718875f));
        p = TOps.MultiplyAdd(p, x2, TOps.Broadcast(-929569f / 638512875f));
        p = TOps.MultiplyAdd(p, x2, TOps.Broadcast(21844f / 6081075f));
        p = TOps.MultiplyAdd(p, x2, TOps.Broadcast(-1382f / 155925f));
        p = TOps.MultiplyAdd(p, x2, TOps.Broadcast(62f / 2835f));
        p = TOps.MultiplyAdd(p, x2, TOps.Broadcast(-17f / 315f));
        p = TOps.MultiplyAdd(p, x2, TOps.Broadcast(2f / 15f));
        p = TOps.MultiplyAdd(p, x2, TOps.Broadcast(-1f / 3f));
        TVec small = TOps.CopySign(TOps.MultiplyAdd(TOps.Multiply(x, x2), p, x), x); // the sign keeps tanh(−0) = −0
        TVec e = Exp<TOps, TVec>(TOps.Add(ax, ax));
        TVec large = TOps.CopySign(TOps.Subtract(TOps.Broadcast(1f), TOps.Divide(TOps.Broadcast(2f), TOps.Add(e, TOps.Broadcast(1f)))), x);
        return TOps.Select(TOps.LessThan(ax, TOps.Broadcast(TanhSeriesBound)), small, large);
    }

    // σ(x) = 1 / (1 + e^−x) for x ≥ 0 and e^x / (1 + e^x) below, with e = e^−|x| ≤ 1 in both, so the
    // error of e is damped by the sum: 0 for x below about −104, 1 from about 17 on, NaN stays NaN
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static TVec Sigmoid<TOps, TVec>(TVec x)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct
    {
        TVec e = Exp<TOps, TVec>(TOps.Subtract(TOps.Zero, TOps.Abs(x)));
        TVec y = TOps.Divide(TOps.Select(TOps.LessThan(x, TOps.Zero), e, TOps.Broadcast(1f)), TOps.Add(TOps.Broadcast(1f), e));
        return TOps.Select(TOps.IsNaN(x), x, y);
    }

    private const float Log2E = 1.44269504f;
    private const float Ln2Hi = 0.693145751953125f;       // ln 2 with its last 12 bits zero: k·Ln2Hi is exact
    private const float Ln2Lo = 1.42860677e-6f;           // ln 2 − Ln2Hi
    private const float RoundingShift = 12582912f;        // 1.5·2²³: x + it − it rounds x to an integer (|x| < 2²²)
    private const float MinNormal = 1.17549435e-38f;
    private const float TwoTo23 = 8388608f;
    private const float Sqrt2 = 1.41421356f;
    private const float TanhSeriesBound = 0.55f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVec RoundToInteger<TOps, TVec>(TVec x)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct =>
        TOps.Subtract(TOps.Add(x, TOps.Broadcast(RoundingShift)), TOps.Broadcast(RoundingShift));
}

public readonly struct ExpOperator : IUnaryOperator
{
    public static TVec Invoke<TOps, TVec>(TVec x)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct => FloatMath.Exp<TOps, TVec>(x);
}

public readonly struct LogOperator : IUnaryOperator
{
    public static TVec Invoke<TOps, TVec>(TVec x)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct => FloatMath.Log<TOps, TVec>(x);
}

public readonly struct TanhOperator : IUnaryOperator
{
    public static TVec Invoke<TOps, TVec>(TVec x)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct => FloatMath.Tanh<TOps, TVec>(x);
}

public readonly struct SigmoidOperator : IUnaryOperator
{
    public static TVec Invoke<TOps, TVec>(TVec x)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct => FloatMath.Sigmoid<TOps, TVec>(x);
}

using System.Runtime.Intrinsics;
using CnnCluster.Engine.Kernels;
using CnnCluster.Engine.Tensors;
using Xunit;
using Xunit.Abstractions;

namespace CnnCluster.Engine.Tests;

/// <summary>
/// The engine's transcendentals against the double-precision result over the whole float range
/// (dense grids near 0 and around the saturation points, and random bit patterns), and the same bits
/// from every vector width, the zero-padded tail and the single-value form.
/// </summary>
public sealed class FloatMathTests(ITestOutputHelper output)
{
    /// <summary>The bounds README's numeric contract states, in units in the last place of the correctly rounded result.</summary>
    private static double MaxUlp(string function) => function switch
    {
        "exp" or "log" => 1.0,
        "tanh" => 2.0,
        _ => 2.5, // σ = e / (1 + e) adds the errors of e, the sum and the quotient
    };

    public static TheoryData<string> Functions => ["exp", "log", "tanh", "sigmoid"];

    [Theory]
    [MemberData(nameof(Functions))]
    public void WithinTwoUlpOfTheDoubleResultOverTheWholeRange(string function)
    {
        (Func<double, double> exact, Action<float[], float[]> ours) = Pick(function);
        var regions = new (string Name, float[] X)[]
        {
            ("near 0", Grid(-1e-3f, 1e-3f, 200_000)),
            ("tiny", [.. Grid(1e-38f, 1e-30f, 20_000), .. Grid(-1e-30f, -1e-38f, 20_000), 0f, -0f, float.Epsilon, -float.Epsilon]),
            ("[-1, 1]", Grid(-1f, 1f, 400_000)),
            ("[-20, 20]", Grid(-20f, 20f, 400_000)),
            ("saturation", Saturation(function)),
            ("random bits", RandomBits(400_000)),
        };

        foreach ((string name, float[] x) in regions)
        {
            var y = new float[x.Length];
            ours(x, y);
            double worst = 0;
            float worstAt = 0;
            for (int i = 0; i < x.Length; i++)
            {
                double ulps = UlpError(y[i], exact(x[i]));
                if (ulps > worst)
                {
                    worst = ulps;
                    worstAt = x[i];
                }
            }

            output.WriteLine($"{function} {name}: worst {worst:F3} ulp at x = {worstAt:R}");
            Assert.True(worst <= MaxUlp(function), $"{function} {name}: {worst:F3} ulp at x = {worstAt:R}");
        }
    }

    [Fact]
    public void SpecialValuesAreExact()
    {
        Assert.Equal(0f, FloatMath.Tanh(0f));
        Assert.True(float.IsNegative(FloatMath.Tanh(-0f)) && FloatMath.Tanh(-0f) == 0f, "tanh(−0) is −0");
        Assert.Equal(1e-6f, FloatMath.Tanh(1e-6f));
        Assert.Equal(-1e-5f, FloatMath.Tanh(-1e-5f));
        Assert.Equal(1f, FloatMath.Tanh(20f));
        Assert.Equal(-1f, FloatMath.Tanh(float.NegativeInfinity));
        Assert.True(float.IsNaN(FloatMath.Tanh(float.NaN)));
        Assert.Equal(1f, FloatMath.Exp(0f));
        Assert.Equal(float.PositiveInfinity, FloatMath.Exp(89f));
        Assert.Equal(0f, FloatMath.Exp(-110f));
        Assert.Equal(0f, FloatMath.Exp(float.NegativeInfinity));
        Assert.True(float.IsNaN(FloatMath.Exp(float.NaN)));
        Assert.Equal(0f, FloatMath.Log(1f));
        Assert.Equal(float.NegativeInfinity, FloatMath.Log(0f));
        Assert.True(float.IsNaN(FloatMath.Log(-1f)));
        Assert.Equal(float.PositiveInfinity, FloatMath.Log(float.PositiveInfinity));
        Assert.Equal(0.5f, FloatMath.Sigmoid(0f));
        Assert.Equal(0f, FloatMath.Sigmoid(-120f));
        Assert.Equal(1f, FloatMath.Sigmoid(40f));
    }

    [Theory]
    [MemberData(nameof(Functions))]
    public void EveryWidthTheTailAndOneValueGiveTheSameBits(string function)
    {
        float[] x = [.. RandomBits(4093), .. Grid(-12f, 12f, 4093), 0f, -0f, 1e-7f];
        var spans = new float[x.Length];
        Pick(function).Ours(x, spans);
        float[] w128 = Lanes<V128, Vector128<float>>(function, x), w256 = Lanes<V256, Vector256<float>>(function, x), w512 = Lanes<V512, Vector512<float>>(function, x);
        for (int i = 0; i < x.Length; i++)
        {
            float single = function switch
            {
                "exp" => FloatMath.Exp(x[i]),
                "log" => FloatMath.Log(x[i]),
                "tanh" => FloatMath.Tanh(x[i]),
                _ => FloatMath.Sigmoid(x[i]),
            };
            uint expected = BitConverter.SingleToUInt32Bits(single);
            Assert.True(
                expected == BitConverter.SingleToUInt32Bits(spans[i]) && expected == BitConverter.SingleToUInt32Bits(w128[i])
                && expected == BitConverter.SingleToUInt32Bits(w256[i]) && expected == BitConverter.SingleToUInt32Bits(w512[i]),
                $"{function}({x[i]:R}): one value {single:R}, span {spans[i]:R}, 128-bit {w128[i]:R}, 256-bit {w256[i]:R}, 512-bit {w512[i]:R}");
        }
    }

    /// <summary>|ours − exact| in units of the last place of the float nearest the exact value (subnormal ulps below 2⁻¹²⁶).</summary>
    internal static double UlpError(float ours, double exact)
    {
        if (double.IsNaN(exact))
        {
            return float.IsNaN(ours) ? 0 : double.PositiveInfinity;
        }

        float rounded = (float)exact;
        if (float.IsInfinity(rounded) || float.IsInfinity(ours))
        {
            return ours == rounded ? 0 : double.PositiveInfinity;
        }

        double ulp = Math.Max(Math.Abs((double)MathF.BitIncrement(Math.Abs(rounded)) - Math.Abs(rounded)), Math.Pow(2, -149));
        return Math.Abs(ours - exact) / ulp;
    }

    private static (Func<double, double> Exact, Action<float[], float[]> Ours) Pick(string function) => function switch
    {
        "exp" => (Math.Exp, (x, y) => FloatMath.Exp(x, y)),
        "log" => (Math.Log, (x, y) => FloatMath.Log(x, y)),
        "tanh" => (Math.Tanh, (x, y) => FloatMath.Tanh(x, y)),
        _ => (v => 1 / (1 + Math.Exp(-v)), (x, y) => FloatMath.Sigmoid(x, y)),
    };

    // each width's vectors directly, whether or not this CPU accelerates it (.NET emulates the others)
    private static float[] Lanes<TOps, TVec>(string function, float[] x)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct
    {
        int lanes = TOps.Count;
        var padded = new float[(x.Length + lanes - 1) / lanes * lanes];
        x.CopyTo(padded, 0);
        var y = new float[padded.Length];
        for (int i = 0; i < padded.Length; i += lanes)
        {
            TVec v = TOps.Load(ref padded[i]);
            TOps.Store(function switch
            {
                "exp" => FloatMath.Exp<TOps, TVec>(v),
                "log" => FloatMath.Log<TOps, TVec>(v),
                "tanh" => FloatMath.Tanh<TOps, TVec>(v),
                _ => FloatMath.Sigmoid<TOps, TVec>(v),
            }, ref y[i]);
        }

        return y[..x.Length];
    }

    private static float[] Grid(float from, float to, int count) =>
        [.. Enumerable.Range(0, count).Select(i => from + ((to - from) * (float)i / (count - 1)))];

    // every float within 4096 ulps of the points where the function saturates, overflows or changes formula
    private static float[] Saturation(string function)
    {
        float[] points = function switch
        {
            "exp" => [88.72283f, -87.33655f, -103.27893f, -103.97208f, 0.34657359f, -0.34657359f],
            "log" => [1f, 1.41421356f, 0.70710678f, 1.17549435e-38f, float.MaxValue / 2, 2f],
            "tanh" => [0.55f, -0.55f, 9.01f, -9.01f, 4f, 1e-4f],
            _ => [-103.97208f, -87.33655f, 16.63553f, 17.32868f, 0f, 1e-4f],
        };
        var x = new List<float>();
        foreach (float p in points)
        {
            int bits = BitConverter.SingleToInt32Bits(p);
            for (int d = -4096; d <= 4096; d++)
            {
                x.Add(BitConverter.Int32BitsToSingle(bits + d));
            }
        }

        return [.. x];
    }

    private static float[] RandomBits(int count)
    {
        var rng = new Rng(0xF10A7);
        var x = new float[count];
        for (int i = 0; i < count; i++)
        {
            float v;
            do
            {
                v = BitConverter.Int32BitsToSingle((int)(uint)rng.NextUInt64());
            }
            while (float.IsNaN(v));
            x[i] = v;
        }

        return x;
    }
}

/// <summary>The loss head's double exp and log against the C library's, within about an ulp.</summary>
public sealed class DoubleMathTests
{
    [Fact]
    public void ExpAndLogAreWithinAnUlpOfTheLibrary()
    {
        var rng = new Rng(0xD0B1E);
        for (int i = 0; i < 200_000; i++)
        {
            double x = (rng.NextDouble() * 1400) - 740;
            double e = DoubleMath.Exp(x), expected = Math.Exp(x);
            Assert.True(Math.Abs(e - expected) <= 2 * Ulp(expected), $"exp({x:R}) = {e:R}, library {expected:R}");
            double y = Math.Exp((rng.NextDouble() * 1400) - 700);
            double l = DoubleMath.Log(y), lexpected = Math.Log(y);
            Assert.True(Math.Abs(l - lexpected) <= 2 * Ulp(lexpected), $"log({y:R}) = {l:R}, library {lexpected:R}");
        }

        Assert.Equal(1.0, DoubleMath.Exp(0));
        Assert.Equal(0.0, DoubleMath.Log(1));
        Assert.Equal(0.0, DoubleMath.Exp(-800));
        Assert.Equal(double.PositiveInfinity, DoubleMath.Exp(800));
        Assert.Equal(double.NegativeInfinity, DoubleMath.Log(0));
        Assert.True(double.IsNaN(DoubleMath.Log(-1)));
        Assert.Equal(Math.Log(double.Epsilon), DoubleMath.Log(double.Epsilon), 12);
    }

    [Fact]
    public void TheScheduleCosineAndPowerMatchTheLibrary()
    {
        for (int i = 0; i <= 100_000; i++)
        {
            // the library on the same reduced argument (π·u itself would be rounded before the cosine)
            double u = i / 100_000.0, ours = DoubleMath.CosPi(u), v = u > 0.5 ? 1 - u : u;
            double expected = (u > 0.5 ? -1 : 1) * (v > 0.25 ? Math.Sin(Math.PI * (0.5 - v)) : Math.Cos(Math.PI * v));
            Assert.True(Math.Abs(ours - expected) <= 2 * Ulp(expected), $"cos(π·{u:R}) = {ours:R}, library {expected:R}");
        }

        Assert.Equal(1.0, DoubleMath.CosPi(0));
        Assert.Equal(-1.0, DoubleMath.CosPi(1));
        Assert.Equal(1.0, DoubleMath.Power(0.1, 0));
        Assert.Equal(0.5 * 0.5 * 0.5, DoubleMath.Power(0.5, 3));
        Assert.True(Math.Abs(DoubleMath.Power(0.1, 7) - Math.Pow(0.1, 7)) <= 4 * Ulp(Math.Pow(0.1, 7)), $"0.1^7 = {DoubleMath.Power(0.1, 7):R}, library {Math.Pow(0.1, 7):R}");
    }

    private static double Ulp(double v) => Math.Max(Math.BitIncrement(Math.Abs(v)) - Math.Abs(v), double.Epsilon);
}

using Xunit;

namespace CnnCluster.Engine.Tests;

/// <summary>A fast form against a plain one: the same math summed in another order. NaN never agrees.</summary>
internal static class Agreement
{
    /// <summary>
    /// Within 10⁻⁴ relative (absolute below 1), plus <paramref name="ofLargest"/> of the tensor's largest
    /// magnitude: long sums that cancel (a kernel gradient over thousands of positions) round in both
    /// orders by about that much, while a wrong element or a stray read is off by the tensor's scale.
    /// </summary>
    public static void AssertClose(float[] expected, float[] actual, string what, double ofLargest = 0)
    {
        Assert.True(expected.Length == actual.Length, $"{what}: {actual.Length} values, expected {expected.Length}");
        double largest = ofLargest == 0 || expected.Length == 0 ? 0 : expected.Max(v => Math.Abs((double)v));
        for (int i = 0; i < expected.Length; i++)
        {
            double tol = (1e-4 * Math.Max(1, Math.Abs(expected[i]))) + (ofLargest * largest);
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tol, $"{what}[{i}]: reference {expected[i]}, fast {actual[i]}");
        }
    }
}

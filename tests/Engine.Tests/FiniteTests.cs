using CnnCluster.Engine.Kernels;
using Xunit;

namespace CnnCluster.Engine.Tests;

public sealed class FiniteTests
{
    [Fact]
    public void FindsTheFirstValueThatIsNotFiniteAndNoneInFiniteValuesWhoseSumOverflows()
    {
        var values = new float[1000];
        Array.Fill(values, 1f);
        Assert.Equal(-1, Finite.FirstNotFinite(values));

        Array.Fill(values, float.MaxValue); // every value finite, the sum is not
        Assert.Equal(-1, Finite.FirstNotFinite(values));

        values[700] = float.NaN;
        values[900] = float.PositiveInfinity;
        Assert.Equal(700, Finite.FirstNotFinite(values));
    }
}

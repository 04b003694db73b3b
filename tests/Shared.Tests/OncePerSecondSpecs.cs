using CnnCluster.Shared.DataPlane;
using Xunit;

namespace CnnCluster.Shared.Tests;

/// <summary>A flood of one kind of line is told once a second, the next line saying how many were left out.</summary>
public sealed class OncePerSecondSpecs
{
    [Fact]
    public void ABurstIsOneLineAndTheNextSaysHowManyWereLeftOut()
    {
        var lines = new List<string>();
        var limiter = new OncePerSecond(lines.Add);
        int made = 0;
        for (int i = 0; i < 500; i++)
        {
            limiter.Tell(() => $"refused {++made}");
        }

        Assert.Equal(["refused 1"], lines);
        Assert.Equal(1, made); // a line left out is never made

        Thread.Sleep(1100);
        limiter.Tell(() => "refused again");
        Assert.Equal(["refused 1", "refused again; 499 more like it since the last such line"], lines);
    }
}

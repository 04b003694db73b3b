using CnnCluster.Engine.Training;
using Xunit;

namespace CnnCluster.Engine.Tests;

/// <summary>The step phases' figures: medians, percentiles of the newest window, the mean over every step.</summary>
public sealed class StepPhaseLogTests
{
    [Fact]
    public void PercentilesInterpolateTheNewestSamplesAndTheMeanCountsEveryStep()
    {
        var log = new StepPhaseLog();
        Assert.True(double.IsNaN(log.Percentile(StepPhase.Step, 0.5)));
        for (int i = 1; i <= 100; i++)
        {
            log.Add(StepPhase.Step, i == 100 ? 10_000 : i); // one slow step among 99 fast ones
        }

        Assert.Equal(50.5, log.Percentile(StepPhase.Step, 0.5), 9);
        Assert.Equal(90.1, log.Percentile(StepPhase.Step, 0.9), 9);
        Assert.Equal(99 + (0.01 * (10_000 - 99)), log.Percentile(StepPhase.Step, 0.99), 9);
        Assert.Equal(10_000, log.Percentile(StepPhase.Step, 1), 9);
        Assert.Equal((4950.0 + 10_000) / 100, log.MeanStep, 9); // 1 + … + 99, and the slow one

        double[] figures = log.Figures();
        Assert.Equal(StepPhaseLog.FigureNames.Count, figures.Length);
        Assert.Equal(50.5, figures[(int)StepPhase.Step], 9);
        Assert.True(double.IsNaN(figures[(int)StepPhase.Hash]));
        Assert.Equal(log.Percentile(StepPhase.Step, 0.99), figures[StepPhaseLog.FigureNames.ToList().IndexOf("step_p99")], 9);

        // the window keeps the newest samples: 5000 more fast steps push the slow one out of the percentiles, not the mean
        for (int i = 0; i < StepPhaseLog.Window; i++)
        {
            log.Add(StepPhase.Step, 7);
        }

        Assert.Equal(7, log.Percentile(StepPhase.Step, 1), 9);
    }
}

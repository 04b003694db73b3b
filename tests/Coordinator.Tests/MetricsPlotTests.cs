using CnnCluster.Coordinator.Reporting;
using CnnCluster.Engine.Training;
using Xunit;

namespace CnnCluster.Coordinator.Tests;

public sealed class MetricsPlotTests
{
    [Fact]
    public void ThePlotShowsTrainingLossTestLossAndTestAccuracyWithTheEpochFigures()
    {
        StepReport[] steps = [.. Enumerable.Range(1, 20).Select(i => new StepReport(i, 20, (i - 1) / 10, 2.0 / i, 0.01, 64L * i, i * 0.1))];
        EpochReport[] epochs = [new(0, 10, 1.1, 0.9, 0.7, 1, 640), new(1, 20, 0.8, 0.7, 0.75, 2, 640)];

        ScottPlot.Plot plot = MetricsPlot.Build(steps, epochs, stepsPerEpoch: 10);

        var series = plot.GetPlottables().OfType<ScottPlot.Plottables.Scatter>().ToDictionary(s => s.LegendText);
        Assert.Equal(["test accuracy (%)", "test loss (epoch)", "training loss (moving average)", "training loss (step)"], series.Keys.Order());
        ScottPlot.Coordinates[] testLoss = series["test loss (epoch)"].Data.GetScatterPoints().ToArray();
        Assert.Equal([(1.0, 0.9), (2.0, 0.7)], testLoss.Select(p => (p.X, p.Y)));
        Assert.Same(plot.Axes.Right, series["test accuracy (%)"].Axes.YAxis);
        Assert.NotSame(plot.Axes.Right, series["test loss (epoch)"].Axes.YAxis); // on the loss axis, beside the training loss
    }
}

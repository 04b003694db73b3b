using CnnCluster.Engine.Training;
using ScottPlot;

namespace CnnCluster.Coordinator.Reporting;

/// <summary>A PNG with the training loss per step (and its moving average), the test loss and the test accuracy per epoch, against epochs.</summary>
public static class MetricsPlot
{
    public static void Save(string path, IReadOnlyList<StepReport> steps, IReadOnlyList<EpochReport> epochs, int stepsPerEpoch) =>
        Build(steps, epochs, stepsPerEpoch).SavePng(path, 900, 500);

    /// <summary>The plot itself, whose series the tests read.</summary>
    public static Plot Build(IReadOnlyList<StepReport> steps, IReadOnlyList<EpochReport> epochs, int stepsPerEpoch)
    {
        var plot = new Plot();
        if (steps.Count > 0)
        {
            double[] x = steps.Select(s => (double)s.Step / stepsPerEpoch).ToArray();
            double[] loss = steps.Select(s => s.Loss).ToArray();
            var raw = plot.Add.Scatter(x, loss);
            raw.MarkerSize = 0;
            raw.LineWidth = 1;
            raw.Color = Colors.Blue.WithAlpha(0.25);
            raw.LegendText = "training loss (step)";

            var smooth = plot.Add.Scatter(x, MovingAverage(loss, Math.Max(1, stepsPerEpoch / 20)));
            smooth.MarkerSize = 0;
            smooth.LineWidth = 2;
            smooth.Color = Colors.Blue;
            smooth.LegendText = "training loss (moving average)";
        }

        if (epochs.Count > 0)
        {
            double[] ex = epochs.Select(e => (double)e.Step / stepsPerEpoch).ToArray();
            var testLoss = plot.Add.Scatter(ex, epochs.Select(e => e.TestLoss).ToArray());
            testLoss.Color = Colors.DarkGreen;
            testLoss.MarkerSize = 8;
            testLoss.LineWidth = 2;
            testLoss.LegendText = "test loss (epoch)";

            var acc = plot.Add.Scatter(ex, epochs.Select(e => e.TestAccuracy * 100).ToArray());
            acc.Axes.YAxis = plot.Axes.Right;
            acc.Color = Colors.OrangeRed;
            acc.MarkerSize = 8;
            acc.LineWidth = 2;
            acc.LegendText = "test accuracy (%)";
        }

        plot.Title("Training and test loss, test accuracy");
        plot.XLabel("epoch");
        plot.Axes.Left.Label.Text = "loss";
        plot.Axes.Right.Label.Text = "test accuracy (%)";
        plot.ShowLegend(Alignment.UpperCenter);
        return plot;
    }

    private static double[] MovingAverage(double[] values, int window)
    {
        var result = new double[values.Length];
        double sum = 0;
        for (int i = 0; i < values.Length; i++)
        {
            sum += values[i];
            if (i >= window)
            {
                sum -= values[i - window];
            }

            result[i] = sum / Math.Min(i + 1, window);
        }

        return result;
    }
}

using System.Globalization;
using System.Text;
using CnnCluster.Engine.Training;

namespace CnnCluster.Coordinator.Reporting;

/// <summary>
/// Collects a run's figures and writes them under runs/&lt;id&gt;/: metrics.csv (one row per epoch),
/// steps.csv (loss and learning rate per step) and metrics.png (the plot).
/// </summary>
public sealed class MetricsFiles
{
    private readonly List<StepReport> _steps = new();
    private readonly List<EpochReport> _epochs = new();

    public MetricsFiles(string directory)
    {
        Directory = directory;
    }

    public string Directory { get; }

    public IReadOnlyList<EpochReport> Epochs => _epochs;

    public IReadOnlyList<StepReport> Steps => _steps;

    public void Add(StepReport step) => _steps.Add(step);

    public void Add(EpochReport epoch) => _epochs.Add(epoch);

    public void Write(int stepsPerEpoch)
    {
        System.IO.Directory.CreateDirectory(Directory);
        var csv = new StringBuilder("epoch,step,train_loss,test_loss,test_accuracy,train_seconds,images_per_sec\n");
        foreach (EpochReport e in _epochs)
        {
            csv.AppendLine(Row(e.Epoch + 1, e.Step, e.TrainLoss, e.TestLoss, e.TestAccuracy, e.TrainSeconds, e.ImagesPerSecond));
        }

        File.WriteAllText(Path.Combine(Directory, "metrics.csv"), csv.ToString());

        var steps = new StringBuilder("step,epoch,loss,lr\n");
        foreach (StepReport s in _steps)
        {
            steps.AppendLine(Row(s.Step, s.Epoch + 1, s.Loss, s.LearningRate));
        }

        File.WriteAllText(Path.Combine(Directory, "steps.csv"), steps.ToString());
        MetricsPlot.Save(Path.Combine(Directory, "metrics.png"), _steps, _epochs, stepsPerEpoch);
    }

    private static string Row(params object[] values) =>
        string.Join(",", values.Select(v => v is double d ? d.ToString("G6", CultureInfo.InvariantCulture) : Convert.ToString(v, CultureInfo.InvariantCulture)));
}

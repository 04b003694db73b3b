using System.Globalization;
using System.Text;
using CnnCluster.Engine.Training;

namespace CnnCluster.Coordinator.Reporting;

/// <summary>
/// Collects a run's figures and writes them under runs/&lt;id&gt;/: metrics.csv (one row per epoch),
/// steps.csv (loss and learning rate per step) and metrics.png (the plot). metrics.csv has a last column
/// alpha_below_0.05 (the fraction of map-combination α below 0.05) when the run's epochs carry it, i.e.
/// for a model with map combinations; a model without keeps the seven columns.
/// </summary>
public sealed class MetricsFiles
{
    /// <summary>The metrics.csv column of <see cref="EpochReport.SparseAlphaFraction"/>.</summary>
    public const string SparseAlphaColumn = "alpha_below_0.05";

    // keyed by step and epoch: a resumed or restarted run tells its history again
    private readonly SortedDictionary<long, StepReport> _steps = new();
    private readonly SortedDictionary<int, EpochReport> _epochs = new();

    public MetricsFiles(string directory)
    {
        Directory = directory;
    }

    public string Directory { get; }

    public IReadOnlyList<EpochReport> Epochs => _epochs.Values.ToList();

    public IReadOnlyList<StepReport> Steps => _steps.Values.ToList();

    public void Add(StepReport step) => _steps[step.Step] = step;

    public void Add(EpochReport epoch) => _epochs[epoch.Epoch] = epoch;

    public void Write(int stepsPerEpoch)
    {
        System.IO.Directory.CreateDirectory(Directory);
        // the column follows the figures, not the caller, so `train` and `pbm train metrics` write the same file
        bool sparsity = _epochs.Values.Any(e => e.SparseAlphaFraction is not null);
        var csv = new StringBuilder("epoch,step,train_loss,test_loss,test_accuracy,train_seconds,images_per_sec" + (sparsity ? "," + SparseAlphaColumn : string.Empty) + "\n");
        foreach (EpochReport e in _epochs.Values)
        {
            string row = Row(e.Epoch + 1, e.Step, e.TrainLoss, e.TestLoss, e.TestAccuracy, e.TrainSeconds, e.ImagesPerSecond);
            csv.AppendLine(sparsity ? row + "," + (e.SparseAlphaFraction is double f ? Row(f) : string.Empty) : row);
        }

        File.WriteAllText(Path.Combine(Directory, "metrics.csv"), csv.ToString());

        var steps = new StringBuilder("step,epoch,loss,lr\n");
        foreach (StepReport s in _steps.Values)
        {
            steps.AppendLine(Row(s.Step, s.Epoch + 1, s.Loss, s.LearningRate));
        }

        File.WriteAllText(Path.Combine(Directory, "steps.csv"), steps.ToString());
        MetricsPlot.Save(Path.Combine(Directory, "metrics.png"), Steps, Epochs, stepsPerEpoch);
    }

    /// <summary>"  α&lt;0.05 37.5%" for an epoch line when the epoch has the figure, else nothing.</summary>
    public static string SparseAlphaText(double? fraction) =>
        fraction is double f ? string.Create(CultureInfo.InvariantCulture, $"  α<0.05 {f * 100:F1}%") : string.Empty;

    private static string Row(params object[] values) =>
        string.Join(",", values.Select(v => v is double d ? d.ToString("G6", CultureInfo.InvariantCulture) : Convert.ToString(v, CultureInfo.InvariantCulture)));
}

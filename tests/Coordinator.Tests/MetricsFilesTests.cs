using CnnCluster.Coordinator.Reporting;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.Protocol;
using Xunit;

namespace CnnCluster.Coordinator.Tests;

/// <summary>metrics.csv's alpha_below_0.05 column: there when the epochs carry the figure, the same whoever writes the file.</summary>
public sealed class MetricsFilesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("metrics-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void AModelWithoutMapCombinationsKeepsTheSevenColumns()
    {
        string[] csv = Write("plain", [new EpochReport(0, 10, 1.1, 0.9, 0.7, 1, 640), new EpochReport(1, 20, 0.8, 0.7, 0.75, 2, 640)]);
        Assert.Equal("epoch,step,train_loss,test_loss,test_accuracy,train_seconds,images_per_sec", csv[0]);
        Assert.Equal("1,10,1.1,0.9,0.7,1,640", csv[1]);
    }

    [Fact]
    public void EpochsWithTheAlphaFractionGetTheColumnAndOnesWithoutAnEmptyCell()
    {
        // a resumed run whose first epoch was journaled before the figure existed
        string[] csv = Write("sparse", [new EpochReport(0, 10, 1.1, 0.9, 0.7, 1, 640), new EpochReport(1, 20, 0.8, 0.7, 0.75, 2, 640, 0.375)]);
        Assert.Equal("epoch,step,train_loss,test_loss,test_accuracy,train_seconds,images_per_sec,alpha_below_0.05", csv[0]);
        Assert.Equal(["1,10,1.1,0.9,0.7,1,640,", "2,20,0.8,0.7,0.75,2,640,0.375"], csv[1..]);
        Assert.Equal("  α<0.05 37.5%", MetricsFiles.SparseAlphaText(0.375));
        Assert.Equal(string.Empty, MetricsFiles.SparseAlphaText(null));
    }

    /// <summary>`train` writes what its observer was told; `pbm train metrics` writes the journal's figures: the same bytes.</summary>
    [Fact]
    public void TheStoredRecordWritesTheMetricsCsvThatTrainWrites()
    {
        EpochRecorded[] journal = [new(0, 16, 1.25, 0.875, 0.625, 3.5, 1234.5, 0.0625), new(1, 32, 0.75, 0.5, 0.75, 7.25, 1300, 0.3359375)];
        var history = new RunHistory("r1", new RunConfig("bouvrie", "{\"layers\":[]}", 2, 32, 32, 0.03, 0.9, false, 5e-4, "cosine", 100, 1, 8, 512), "completed", 32, 16, [], journal, [], null, null);
        string record = Path.Combine(_dir, "record");
        Directory.CreateDirectory(record);
        RunRecord.Write(history, record);

        // what the run listener hands `train`'s observer for each EpochCompleted
        string[] train = Write("train", [.. journal.Select(e => new EpochReport(e.Epoch, e.Step, e.TrainLoss, e.TestLoss, e.TestAccuracy, e.TrainSeconds, e.ImagesPerSecond, e.SparseAlphaFraction))]);
        Assert.Equal(File.ReadAllBytes(Path.Combine(_dir, "train", "metrics.csv")), File.ReadAllBytes(Path.Combine(record, "metrics.csv")));
        Assert.EndsWith(",0.335938", train[2]); // the file's G6, as every figure in it
        Assert.Contains(RunRecord.Log(history), l => l.StartsWith("epoch 2  step 32  ", StringComparison.Ordinal) && l.EndsWith("  α<0.05 33.6%", StringComparison.Ordinal));
    }

    private string[] Write(string name, EpochReport[] epochs)
    {
        var metrics = new MetricsFiles(Path.Combine(_dir, name));
        foreach (EpochReport e in epochs)
        {
            metrics.Add(e);
        }

        metrics.Write(stepsPerEpoch: 10);
        return File.ReadAllLines(Path.Combine(_dir, name, "metrics.csv"));
    }
}

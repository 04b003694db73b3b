using System.Diagnostics;
using CnnCluster.Engine.Data;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Optim;
using CnnCluster.Engine.Training;

namespace CnnCluster.Bench.Engine;

/// <summary>
/// The training loop's memory epoch by epoch: the managed heap after a full collection (what the loop
/// keeps) and the resident set (what the process holds, including the collector's slack).
/// </summary>
public sealed class EpochMemory : ITrainingObserver
{
    public static void Print(DatasetSplits data, int epochs, int threads)
    {
        var options = new TrainingOptions { Epochs = epochs, BatchSize = 64, LearningRate = 0.03, Threads = threads, Sgd = new SgdOptions(0.9, false, 5e-4) };
        Console.WriteLine($"lenet5, batch 64, {threads} thread(s), {epochs} epochs: memory at each epoch's end");
        new Trainer(Network.Build(Presets.LeNet5), options, data.Train, data.Test).Run(new EpochMemory());
    }

    public void OnStep(StepReport report)
    {
    }

    public void OnEpoch(EpochReport report)
    {
        long heap = GC.GetTotalMemory(forceFullCollection: true);
        using Process self = Process.GetCurrentProcess();
        Console.WriteLine($"  epoch {report.Epoch + 1,2}: managed heap after GC {heap / 1048576.0,7:F2} MiB, resident {self.WorkingSet64 / 1048576.0,6:F1} MiB, peak resident {self.PeakWorkingSet64 / 1048576.0,6:F1} MiB, test accuracy {report.TestAccuracy:P2}");
    }
}

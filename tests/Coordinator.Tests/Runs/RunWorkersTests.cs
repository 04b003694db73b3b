using CnnCluster.Coordinator.Runs.Workers;
using CnnCluster.Shared.Protocol;
using Xunit;

namespace CnnCluster.Coordinator.Tests.Runs;

/// <summary>What a run keeps of its workers' reports: their bytes per step and their processes' CPU per step.</summary>
public sealed class RunWorkersTests
{
    [Fact]
    public void AWorkersCpuPerStepIsItsProcessesCpuFromItsFirstReportToItsLast()
    {
        RunWorkers<string> workers = Workers(inProcess: false);
        workers.Reported("w0", Done(1, cpu: 5_000)); // the CPU before its first report is the process's start-up, not the run's
        workers.Reported("w0", Done(2, cpu: 7_000));
        workers.Reported("w0", Done(3, cpu: 10_000));
        workers.Reported("w1", Done(3, cpu: 90_000));

        NodeTraffic w0 = workers.ReportedTraffic.First(t => t.Node == "w0");
        Assert.Equal(3, w0.Steps);
        Assert.Equal(30, w0.StepBytesSent);
        Assert.Equal(2_500, w0.CpuMicrosecondsPerStep);
        Assert.Equal(0, workers.ReportedTraffic.First(t => t.Node == "w1").CpuMicrosecondsPerStep); // one report: no step measured yet
    }

    [Fact]
    public void AWorkerInTheCoordinatorsProcessGivesNoCpuOfItsOwn()
    {
        RunWorkers<string> workers = Workers(inProcess: true);
        workers.Reported("w0", Done(1, cpu: 5_000));
        workers.Reported("w0", Done(2, cpu: 9_000));

        // the coordinator's own figure is that process's: counting it again per worker would count it twice
        Assert.Equal(0, Assert.Single(workers.ReportedTraffic).CpuMicrosecondsPerStep);
    }

    private static RunWorkers<string> Workers(bool inProcess) =>
        new((_, _) => throw new InvalidOperationException("no channel is opened by reports"), _ => inProcess);

    private static StepDone Done(long step, long cpu) =>
        new(new StepRef("r", 1, 1, step), "", 1.5, BytesSent: 10, BytesReceived: 20, CpuMicroseconds: cpu);
}

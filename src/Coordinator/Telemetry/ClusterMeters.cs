using System.Diagnostics.Metrics;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.DataPlane;

namespace CnnCluster.Coordinator.Telemetry;

/// <summary>
/// The coordinator's OpenTelemetry meter "CnnCluster", every instrument in one place, recorded where the
/// events happen (a run commits a step or saves a snapshot, the registry's runs or the directory's workers
/// change) and exported by `serve` at /metrics. Without a listener (`train`, tests) recording costs
/// next to nothing. The names are the Prometheus names: counters end in _total, units are in the name.
/// The gauges of runs and workers come from the registry singleton, so only the coordinator that hosts it
/// reports them (the others export none).
/// </summary>
public static class ClusterMeters
{
    public const string MeterName = "CnnCluster";

    /// <summary>The phases' running average for the dashboard: about the last 50 samples weigh.</summary>
    private const double AverageWeight = 0.02;

    private static readonly Meter Meter = new(MeterName);

    private static readonly Counter<long> Steps = Meter.CreateCounter<long>("cnncluster_steps_total", description: "training steps committed by the runs of this coordinator");

    private static readonly Counter<long> Images = Meter.CreateCounter<long>("cnncluster_images_total", description: "training images in the committed steps");

    // from 10 µs to 100 s: a LeNet step's optimizer phase is tens of µs, a large model's snapshot seconds
    private static readonly Histogram<double> Phases = Meter.CreateHistogram("cnncluster_step_phase_seconds", unit: null,
        description: "time of each phase of a step as the coordinator measures it (phase: assign, serialize, transfer, compute, reduce, optimizer, hash, journal, snapshot, step)",
        tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100] });

    private static readonly Histogram<long> SnapshotSizes = Meter.CreateHistogram("cnncluster_snapshot_bytes", unit: null,
        description: "parameter bytes of each snapshot saved to the store",
        tags: null, advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = [1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000, 10_000_000_000] });

    private static readonly string[] PhaseNames = Enum.GetNames<StepPhase>().Select(n => n.ToLowerInvariant()).ToArray();

    private static readonly KeyValuePair<string, object?>[] PhaseTags = PhaseNames.Select(n => new KeyValuePair<string, object?>("phase", n)).ToArray();

    private static readonly Lock AveragesLock = new();
    private static readonly double[] Averages = Enumerable.Repeat(double.NaN, PhaseNames.Length).ToArray();

    private static IReadOnlyDictionary<string, int> _runs = new Dictionary<string, int>();
    private static int _workers, _refusedWorkers;

    static ClusterMeters()
    {
        Meter.CreateObservableCounter("cnncluster_dataplane_sent_bytes_total", () => Traffic(DataTraffic.Process.StepSent, DataTraffic.Process.StateSent),
            description: "data-plane bytes this process sent (kind: step for a step's exchange, state for whole replicas)");
        Meter.CreateObservableCounter("cnncluster_dataplane_received_bytes_total", () => Traffic(DataTraffic.Process.StepReceived, DataTraffic.Process.StateReceived),
            description: "data-plane bytes this process received (kind: step, state)");
        Meter.CreateObservableGauge("cnncluster_workers", () => new[]
        {
            new Measurement<int>(Volatile.Read(ref _workers), new KeyValuePair<string, object?>("state", "ready")),
            new Measurement<int>(Volatile.Read(ref _refusedWorkers), new KeyValuePair<string, object?>("state", "refused")),
        }, description: "workers the run registry knows (state: ready gets work, refused does not)");
        Meter.CreateObservableGauge("cnncluster_runs", () => Volatile.Read(ref _runs).Select(kv => new Measurement<int>(kv.Value, new KeyValuePair<string, object?>("state", kv.Key))),
            description: "runs the run registry knows, by state (running, paused, completed, stopped, failed)");
    }

    /// <summary>A run committed a step of <paramref name="images"/> images.</summary>
    public static void StepCommitted(long images)
    {
        Steps.Add(1);
        Images.Add(images);
    }

    /// <summary>A phase sample of a run's <see cref="StepPhaseLog"/> (its observer).</summary>
    public static void PhaseTimed(StepPhase phase, double microseconds)
    {
        Phases.Record(microseconds * 1e-6, PhaseTags[(int)phase]);
        lock (AveragesLock)
        {
            double a = Averages[(int)phase];
            Averages[(int)phase] = double.IsNaN(a) ? microseconds : a + AverageWeight * (microseconds - a);
        }
    }

    /// <summary>A run's snapshot of <paramref name="bytes"/> parameter bytes reached the store.</summary>
    public static void SnapshotSaved(long bytes) => SnapshotSizes.Record(bytes);

    /// <summary>The registry's runs by state, whenever one changes.</summary>
    public static void Runs(IReadOnlyDictionary<string, int> byState) => Volatile.Write(ref _runs, byState);

    /// <summary>The directory's workers, whenever one joins, is refused or is lost.</summary>
    public static void Workers(int ready, int refused)
    {
        Volatile.Write(ref _workers, ready);
        Volatile.Write(ref _refusedWorkers, refused);
    }

    /// <summary>For the dashboard: each phase's recent average in milliseconds (phases not measured yet left out).</summary>
    public static IReadOnlyDictionary<string, double> RecentPhaseMilliseconds()
    {
        lock (AveragesLock)
        {
            return PhaseNames.Select((name, i) => (name, ms: Averages[i] / 1000)).Where(p => !double.IsNaN(p.ms)).ToDictionary(p => p.name, p => p.ms);
        }
    }

    private static Measurement<long>[] Traffic(long step, long state) =>
    [
        new(step, new KeyValuePair<string, object?>("kind", "step")),
        new(state, new KeyValuePair<string, object?>("kind", "state")),
    ];
}

using System.Collections.Concurrent;
using CnnCluster.Engine.Data;


namespace CnnCluster.Coordinator.Runs;

/// <summary>The data a run trains and evaluates on, with the fingerprint its workers must match.</summary>
public sealed record RunData(LabeledImages Train, LabeledImages Test, string Fingerprint, string Directory)
{
    private static readonly ConcurrentDictionary<string, Lazy<DatasetSplits>> Loaded = new();

    /// <summary>Loads (once per process and directory) and cuts to the run's limit.</summary>
    public static RunData For(string? dataDirectory, int? limit)
    {
        string dir = MnistFormat.Locate(dataDirectory);
        DatasetSplits splits = Loaded.GetOrAdd(dir, d => new Lazy<DatasetSplits>(() => MnistFormat.Load(d))).Value;
        LabeledImages train = limit is int n ? splits.Train.Take(n) : splits.Train;
        LabeledImages test = limit is int m ? splits.Test.Take(m) : splits.Test;
        return new RunData(train, test, DataFingerprint.Of(train), dir);
    }
}

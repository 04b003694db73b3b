using CnnCluster.Coordinator.Cluster;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Runs.Workers;

/// <summary>
/// The workers of one run, one row each: its capacity, its channel, the results of it that failed
/// (strikes) and the bytes it reported. Every per-worker fact of a run lives here (the scheduler and the
/// sharded group keep only who computes what), so a worker that leaves is forgotten in one place.
/// Pure state apart from the channels it opens; no actors.
/// </summary>
public sealed class RunWorkers<TWorker>(Func<TWorker, WorkerCapacity, IWorkerChannel> open, Func<TWorker, bool> inProcess) : IDisposable
    where TWorker : notnull
{
    private readonly Dictionary<TWorker, (WorkerCapacity Capacity, IWorkerChannel Channel)> _rows = new();
    private readonly Dictionary<TWorker, int> _strikes = new(); // kept when a worker leaves: a rejoin does not clear its record in this run
    private readonly Dictionary<TWorker, NodeTraffic> _reported = new();
    private readonly Dictionary<TWorker, long> _firstCpu = new(); // a worker's process CPU at its first report
    private long _retiredSent, _retiredReceived;
    private TimeSpan _retiredEncoding;

    public int Count => _rows.Count;

    public bool Contains(TWorker worker) => _rows.ContainsKey(worker);

    /// <summary>A worker of this run from now on (news of it again keeps its channel unless its endpoint changed).</summary>
    public IWorkerChannel Add(TWorker worker, WorkerCapacity capacity)
    {
        if (_rows.TryGetValue(worker, out var known) && known.Capacity.DataEndpoint == capacity.DataEndpoint)
        {
            _rows[worker] = (capacity, known.Channel);
            return known.Channel;
        }

        Remove(worker);
        IWorkerChannel channel = open(worker, capacity);
        _rows[worker] = (capacity, channel);
        return channel;
    }

    /// <summary>The worker left (lost, left out, quarantined): its channel closes; false when it was not here.</summary>
    public bool Remove(TWorker worker)
    {
        if (!_rows.Remove(worker, out var row))
        {
            return false;
        }

        _retiredSent += row.Channel.BytesSent;
        _retiredReceived += row.Channel.BytesReceived;
        _retiredEncoding += row.Channel.Encoding;
        row.Channel.Dispose();
        return true;
    }

    public IWorkerChannel? Channel(TWorker worker) => _rows.TryGetValue(worker, out var row) ? row.Channel : null;

    public WorkerCapacity? Capacity(TWorker worker) => _rows.TryGetValue(worker, out var row) ? row.Capacity : null;

    /// <summary>True when the worker lives in this process: its results' buffers are its own, not ours to pool.</summary>
    public bool InProcess(TWorker worker) => inProcess(worker);

    /// <summary>One more failed result of <paramref name="worker"/>; its count.</summary>
    public int Strike(TWorker worker) => _strikes[worker] = _strikes.GetValueOrDefault(worker) + 1;

    /// <summary>
    /// A replica's report of a step: its bytes on the data plane, summed per worker, and its process's CPU per step since
    /// its first report (none for a worker in this process: the coordinator's own figure is that process's).
    /// </summary>
    public void Reported(TWorker worker, StepDone done)
    {
        NodeTraffic t = _reported.GetValueOrDefault(worker) ?? new NodeTraffic(Capacity(worker)?.DataEndpoint ?? worker.ToString()!, 0, 0, 0, 0, 0);
        long first = _firstCpu.TryGetValue(worker, out long f) ? f : _firstCpu[worker] = done.CpuMicroseconds;
        long since = t.Steps; // the steps reported after the first
        _reported[worker] = t with
        {
            Steps = t.Steps + 1, StepBytesSent = t.StepBytesSent + done.BytesSent, StepBytesReceived = t.StepBytesReceived + done.BytesReceived,
            StateBytesSent = done.StateBytesSent, StateBytesReceived = done.StateBytesReceived,
            CpuMicrosecondsPerStep = since > 0 && !InProcess(worker) ? (double)(done.CpuMicroseconds - first) / since : 0,
        };
    }

    /// <summary>What each worker reported of its data plane, by endpoint.</summary>
    public IEnumerable<NodeTraffic> ReportedTraffic => _reported.Values.OrderBy(t => t.Node, StringComparer.Ordinal);

    public long BytesSent => _retiredSent + _rows.Values.Sum(r => r.Channel.BytesSent);

    public long BytesReceived => _retiredReceived + _rows.Values.Sum(r => r.Channel.BytesReceived);

    /// <summary>Encoding time over every channel this run had (read twice a step: no LINQ, no boxing).</summary>
    public TimeSpan Encoding
    {
        get
        {
            TimeSpan sum = _retiredEncoding;
            foreach ((WorkerCapacity _, IWorkerChannel channel) in _rows.Values)
            {
                sum += channel.Encoding;
            }

            return sum;
        }
    }

    public void Dispose()
    {
        foreach (TWorker worker in _rows.Keys.ToList())
        {
            Remove(worker);
        }
    }
}

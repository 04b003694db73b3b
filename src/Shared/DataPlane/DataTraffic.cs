namespace CnnCluster.Shared.DataPlane;

/// <summary>
/// Data-plane bytes of one node, counted where frames are written and read, with the frames that carry a
/// replica's whole state (start, joins, snapshots) apart from a step's exchange. Thread-safe.
/// </summary>
public sealed class DataTraffic
{
    private long _stepSent, _stepReceived, _stateSent, _stateReceived;

    /// <summary>Every frame this process wrote or read, whichever link or server it crossed (what the coordinator's metrics export).</summary>
    public static DataTraffic Process { get; } = new();

    public long StepSent => Interlocked.Read(ref _stepSent);

    public long StepReceived => Interlocked.Read(ref _stepReceived);

    public long StateSent => Interlocked.Read(ref _stateSent);

    public long StateReceived => Interlocked.Read(ref _stateReceived);

    public void Sent(FrameKind kind, long bytes) => Interlocked.Add(ref DataFrames.CarriesState(kind) ? ref _stateSent : ref _stepSent, bytes);

    public void Received(FrameKind kind, long bytes) => Interlocked.Add(ref DataFrames.CarriesState(kind) ? ref _stateReceived : ref _stepReceived, bytes);
}

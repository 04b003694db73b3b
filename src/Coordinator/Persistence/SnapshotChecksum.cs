using System.Runtime.InteropServices;
using System.Security.Cryptography;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Persistence;

/// <summary>SHA-256 over everything a snapshot restores, so a damaged one is noticed and skipped.</summary>
public static class SnapshotChecksum
{
    public static string Of(string runId, SessionState s)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(System.Text.Encoding.UTF8.GetBytes(runId));
        sha.AppendData(BitConverter.GetBytes(s.Step));
        sha.AppendData(MemoryMarshal.AsBytes(s.Parameters.AsSpan()));
        sha.AppendData(MemoryMarshal.AsBytes(s.Velocity.AsSpan()));
        sha.AppendData(BitConverter.GetBytes(s.Images));
        sha.AppendData(BitConverter.GetBytes(s.TrainSeconds));
        sha.AppendData(BitConverter.GetBytes(s.EpochLossSum));
        sha.AppendData(BitConverter.GetBytes(s.EpochImages));
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    public static RunSnapshot Create(string runId, SessionState s) =>
        new(runId, s.Step, s.Parameters, s.Velocity, s.Images, s.TrainSeconds, s.EpochLossSum, s.EpochImages, Of(runId, s));

    public static SessionState State(RunSnapshot s) => new(s.Step, s.Parameters, s.Velocity, s.Images, s.TrainSeconds, s.EpochLossSum, s.EpochImages);

    /// <summary>Null when the snapshot is whole and belongs to the run, else why not.</summary>
    public static string? Problem(string runId, RunSnapshot s, int parameterCount)
    {
        if (s.RunId != runId)
        {
            return $"it belongs to run '{s.RunId}'";
        }

        if (s.Parameters is null || s.Velocity is null || s.Parameters.Length != parameterCount || s.Velocity.Length != parameterCount)
        {
            return $"it holds {s.Parameters?.Length ?? 0} parameters, the model has {parameterCount}";
        }

        string actual = Of(runId, State(s));
        return actual == s.Checksum ? null : $"checksum {Short(actual)} does not match the stored {Short(s.Checksum)}";
    }

    private static string Short(string? h) => h is { Length: > 12 } ? h[..12] : h ?? "none";
}

using System.IO.Hashing;
using System.Runtime.InteropServices;

namespace CnnCluster.Worker.Sharded;

/// <summary>
/// XXH3 (64 bits) of a replica's parameter bytes: every replica sends it every step, so the coordinator
/// sees at once that all hold the same bits, at a fraction of SHA-256's cost (which one member a step
/// computes for the journal). Not a defence against a forger; a check against faulty machines.
/// </summary>
public static class ReplicaChecksum
{
    public static ulong Of(ReadOnlySpan<float> parameters) => XxHash3.HashToUInt64(MemoryMarshal.AsBytes(parameters));
}

using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace CnnCluster.Engine.Training;

/// <summary>SHA-256 of the little-endian float32 parameter buffer: the run's fingerprint (DESIGN §4).</summary>
public static class ParameterHash
{
    public static string Of(ReadOnlySpan<float> parameters)
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("parameter hashes are defined on the little-endian byte layout");
        }

        return Convert.ToHexStringLower(SHA256.HashData(MemoryMarshal.AsBytes(parameters)));
    }

    /// <summary>
    /// SHA-256 of a whole training state, the parameters' bytes then the optimizer's velocity's: what every
    /// replica of a sharded run reports on a step whose state the coordinator takes, so the state one member
    /// sends is accepted only if it is the one all of them hold (a forger cannot match it, unlike a checksum).
    /// </summary>
    public static string OfState(ReadOnlySpan<float> parameters, ReadOnlySpan<float> velocity)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(MemoryMarshal.AsBytes(parameters));
        sha.AppendData(MemoryMarshal.AsBytes(velocity));
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    /// <summary>
    /// SHA-256 of one slice of a gradient (a node's part, or a slice's sum) and its loss sum: on a checked step of a
    /// sharded run each is known by it, so values that differ from the ones agreed cannot pass (a checksum could be forged).
    /// </summary>
    public static byte[] OfSlice(ReadOnlySpan<float> values, double loss)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(MemoryMarshal.AsBytes(values));
        Span<byte> bits = stackalloc byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(bits, BitConverter.DoubleToInt64Bits(loss));
        sha.AppendData(bits);
        return sha.GetHashAndReset();
    }

    /// <summary>Bytes of one <see cref="OfSlice"/> digest.</summary>
    public const int SliceDigestBytes = 32;
}

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
}

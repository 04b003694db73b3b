using System.Security.Cryptography;

namespace CnnCluster.Engine.Data;

/// <summary>A short hash of a training set's pixels and labels, so a worker with other data refuses to compute.</summary>
public static class DataFingerprint
{
    public static string Of(LabeledImages data)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(data.Pixels);
        sha.AppendData(data.Labels);
        return Convert.ToHexStringLower(sha.GetHashAndReset())[..16];
    }
}

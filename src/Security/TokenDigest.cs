using System.Security.Cryptography;
using System.Text;

namespace CnnCluster.Security;

/// <summary>
/// What a node keeps of pbm's token: its SHA-256, enough to check a token and useless to present one, so a
/// node (a worker above all) that is read or taken over gives away no way in. Written as hex in
/// <see cref="ClusterSecrets.TokenDigestFile"/>; made from the token itself where one is given (PBM_TOKEN).
/// </summary>
public sealed class TokenDigest
{
    private readonly byte[] _digest;

    private TokenDigest(byte[] digest) => _digest = digest;

    public static TokenDigest Of(string token) => new(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    /// <summary>From the hex text of a digest file; an <see cref="ArgumentException"/> naming <paramref name="source"/> when it is not 64 hex digits.</summary>
    public static TokenDigest FromHex(string hex, string source)
    {
        string text = hex.Trim();
        return text.Length == 64 && text.All(char.IsAsciiHexDigit)
            ? new TokenDigest(Convert.FromHexString(text))
            : throw new ArgumentException($"{source} is not a token digest (64 hex digits): write it again with `coordinator secrets --out DIR`");
    }

    public string Hex => Convert.ToHexStringLower(_digest);

    /// <summary>True when <paramref name="token"/> is the token: in constant time over the digests, so neither its bytes nor its length leak.</summary>
    public bool Admits(string? token) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(token ?? string.Empty)), _digest) && token is not null;
}

using System.Security.Cryptography;

namespace CnnCluster.Security;

/// <summary>Secret files: made owner-only before a byte is written, read without their line end, and where pbm's token comes from.</summary>
public static class SecretFiles
{
    /// <summary>256 random bits, URL-safe base64 (fits a connection string and an environment variable).</summary>
    public static string NewSecret() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>A secret file's text without its line end (files written by people end with one).</summary>
    public static string ReadSecret(string path) => File.ReadAllText(path).Trim();

    public static void WritePrivate(string path, string text) => WritePrivate(path, System.Text.Encoding.ASCII.GetBytes(text));

    public static void WritePrivate(string path, byte[] bytes)
    {
        // created owner-only before a byte is written, so the secret is never readable by others
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using var file = new FileStream(path, options);
        file.Write(bytes);
    }

    /// <summary>
    /// The token a client presents: PBM_TOKEN, else the file PBM_TOKEN_FILE, else pbm's file under CLUSTER_SECRETS
    /// (its pbm/ folder, or the folder itself when it is that one); null: no token.
    /// </summary>
    public static string? ReadToken(Func<string, string?> env)
    {
        if (env("PBM_TOKEN") is { Length: > 0 } token)
        {
            return token;
        }

        string? file = NonEmpty(env("PBM_TOKEN_FILE")) ?? InSecrets(env, ClusterSecrets.TokenFile, ClusterSecrets.PbmFolder);
        return file is null ? null : Read(file, "pbm token file");
    }

    /// <summary>
    /// What a node checks pbm's token against: the digest of PBM_TOKEN or of the file PBM_TOKEN_FILE, else
    /// the digest file of CLUSTER_SECRETS (<see cref="ClusterSecrets.TokenDigestFile"/>, in the node's own
    /// folder <paramref name="role"/>); null: no token is asked for.
    /// </summary>
    public static TokenDigest? ReadTokenDigest(Func<string, string?> env, NodeRole role)
    {
        if (env("PBM_TOKEN") is { Length: > 0 } token)
        {
            return TokenDigest.Of(Strong(token, "PBM_TOKEN"));
        }

        if (NonEmpty(env("PBM_TOKEN_FILE")) is { } tokenFile)
        {
            return TokenDigest.Of(Strong(Read(tokenFile, "pbm token file"), $"the pbm token file {tokenFile}"));
        }

        return InSecrets(env, ClusterSecrets.TokenDigestFile, ClusterSecrets.RoleFolder(role)) is { } digestFile
            ? TokenDigest.FromHex(Read(digestFile, "pbm token digest"), digestFile)
            : null;
    }

    /// <summary>A token a node accepts is long enough that guessing it is hopeless, so a wrong guess never locks anyone out: the right token always gets in.</summary>
    public const int MinTokenLength = 16;

    private static string Strong(string token, string source) => token.Length >= MinTokenLength ? token
        : throw new ArgumentException($"{source} holds a token of {token.Length} characters; a node takes one of at least {MinTokenLength} (`coordinator secrets` makes one of 43)");

    private static string? InSecrets(Func<string, string?> env, string file, string subFolder)
    {
        return NonEmpty(env("CLUSTER_SECRETS")) is { } secrets ? ClusterSecrets.Locate(secrets, subFolder, file) : null;
    }

    private static string Read(string file, string what)
    {
        string secret;
        try
        {
            secret = ReadSecret(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"cannot read the {what} {file}: {e.Message}");
        }

        return secret.Length > 0 ? secret : throw new ArgumentException($"the {what} {file} is empty");
    }

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();
}

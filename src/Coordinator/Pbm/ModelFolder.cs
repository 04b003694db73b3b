using CnnCluster.Engine.Models;
using CnnCluster.Shared.Pbm;

namespace CnnCluster.Coordinator.Pbm;

/// <summary>
/// What `pbm train submit -m` may name on the coordinator: a preset, or a JSON spec file inside the
/// coordinator's models folder (MODELS_DIR, default ./models in its working directory). A pbm user is not
/// the coordinator's operator, so nothing else on its disk is read: the path is resolved with every
/// symbolic link followed and must stay inside the (resolved) folder, be a regular file and at most
/// <see cref="MaxSpecBytes"/>. Every refusal is the same line, whether or not the file exists.
/// </summary>
public sealed class ModelFolder(string folder)
{
    public const int MaxSpecBytes = 1 << 20;

    /// <summary>The folder, absolute.</summary>
    public string Folder { get; } = Path.GetFullPath(folder);

    /// <summary>MODELS_DIR, else ./models.</summary>
    public static ModelFolder FromEnvironment(Func<string, string?>? env = null)
    {
        env ??= Environment.GetEnvironmentVariable;
        string? dir = env("MODELS_DIR");
        return new ModelFolder(string.IsNullOrWhiteSpace(dir) ? "models" : dir.Trim());
    }

    public ModelSpec Resolve(string model)
    {
        if (Presets.Find(model) is ModelSpec preset)
        {
            return preset;
        }

        string? path = Inside(model);
        if (path is null)
        {
            throw Refusal(model);
        }

        byte[] bytes;
        try
        {
            // bounded before it is read: a huge file (or a device) costs the coordinator nothing
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            if (stream.Length > MaxSpecBytes)
            {
                throw new CommandException($"model spec file '{model}' is larger than {MaxSpecBytes >> 20} MiB");
            }

            bytes = new byte[MaxSpecBytes + 1];
            int total = 0, n;
            while (total < bytes.Length && (n = stream.Read(bytes, total, bytes.Length - total)) > 0)
            {
                total += n;
            }

            if (total > MaxSpecBytes)
            {
                throw new CommandException($"model spec file '{model}' is larger than {MaxSpecBytes >> 20} MiB");
            }

            Array.Resize(ref bytes, total);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Refusal(model);
        }

        try
        {
            return ModelSpecJson.Parse(System.Text.Encoding.UTF8.GetString(bytes), Path.GetFileNameWithoutExtension(path));
        }
        catch (ModelSpecException e)
        {
            throw new CommandException($"model spec file '{model}': {e.Message}");
        }
    }

    private CommandException Refusal(string model) => new(
        $"model '{model}' is not accepted: give a preset ({string.Join(", ", Presets.Names)}) or the name of a JSON spec file in the coordinator's models folder {Folder} (MODELS_DIR)");

    /// <summary>The real path of <paramref name="model"/> when it is a regular file inside the folder, else null.</summary>
    private string? Inside(string model)
    {
        if (model.Length == 0 || model.Contains('\0'))
        {
            return null;
        }

        try
        {
            string root = RealPath(Folder);
            string real = RealPath(Path.GetFullPath(Path.Combine(Folder, model)));
            string prefix = root.EndsWith(Path.DirectorySeparatorChar) ? root : root + Path.DirectorySeparatorChar;
            if (!real.StartsWith(prefix, StringComparison.Ordinal) || !File.Exists(real) || !IsRegularFile(real))
            {
                return null;
            }

            return real;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return null;
        }
    }

    /// <summary>
    /// A file worth opening: not a directory, and with a size from stat (the limit is checked once open). Devices,
    /// pipes and sockets have no size there (st_size 0; .NET has no public file type on Unix), and an empty file
    /// is no spec, so none of them is ever opened (a pipe would block the open, /dev/zero would never end).
    /// </summary>
    private static bool IsRegularFile(string path)
    {
        var info = new FileInfo(path);
        return info.Exists && (info.Attributes & (FileAttributes.Directory | FileAttributes.Device)) == 0 && info.Length > 0;
    }

    /// <summary><paramref name="path"/> with every symbolic link along it followed (Path.GetFullPath follows none).</summary>
    internal static string RealPath(string path, int depth = 0)
    {
        if (depth > 32)
        {
            throw new IOException("too many levels of symbolic links");
        }

        string full = Path.GetFullPath(path);
        string root = Path.GetPathRoot(full)!;
        string current = root;
        foreach (string part in full[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
        {
            string next = Path.Combine(current, part);
            FileSystemInfo info = Directory.Exists(next) ? new DirectoryInfo(next) : new FileInfo(next);
            if (info.LinkTarget is not null)
            {
                FileSystemInfo? target = info.ResolveLinkTarget(returnFinalTarget: true);
                next = target is null ? next : RealPath(target.FullName, depth + 1);
            }

            current = next;
        }

        return current;
    }
}

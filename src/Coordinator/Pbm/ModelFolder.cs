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

    /// <summary>A regular file: not a directory, device, pipe or socket (the size of a device says nothing).</summary>
    private static bool IsRegularFile(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            return (File.GetAttributes(path) & (FileAttributes.Directory | FileAttributes.Device)) == 0;
        }

        // .NET has no public file type on Unix: `stat -c %F` would be a process; /proc/self is not everywhere
        return Stat.IsRegular(path);
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

/// <summary>
/// The file type of a path on Unix, from the runtime's own native shim (SystemNative_Stat, whose FileStatus
/// starts with int Flags, int Mode on every architecture): .NET exposes no file type, and a device or a pipe
/// inside the models folder must not be opened.
/// </summary>
internal static partial class Stat
{
    private const int TypeMask = 0xF000;
    private const int Regular = 0x8000;

    [System.Runtime.InteropServices.LibraryImport("libSystem.Native", EntryPoint = "SystemNative_Stat", StringMarshalling = System.Runtime.InteropServices.StringMarshalling.Utf8)]
    private static partial int Native(string path, [System.Runtime.InteropServices.Out] byte[] status);

    public static bool IsRegular(string path)
    {
        var status = new byte[512]; // larger than FileStatus on any platform
        try
        {
            return Native(path, status) == 0 && (BitConverter.ToInt32(status, 4) & TypeMask) == Regular;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            return false; // cannot tell: refuse rather than open something that may block or never end
        }
    }
}

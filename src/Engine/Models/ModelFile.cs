using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace CnnCluster.Engine.Models;

/// <summary>A trained model that cannot be read: the message names the file and what is wrong.</summary>
public sealed class ModelFileException(string message) : Exception(message);

/// <summary>
/// A trained model in one file: the spec (JSON) and the flat float32 parameters, with a checksum.
/// Layout: "CNNMODEL", u32 version 1, u32 JSON length, JSON (UTF-8), u32 parameter count,
/// little-endian float32 parameters, 32-byte SHA-256 of the parameter bytes.
/// </summary>
public static class ModelFile
{
    private static readonly byte[] Magic = "CNNMODEL"u8.ToArray();

    public static void Write(string path, ModelSpec spec, ReadOnlySpan<float> parameters)
    {
        int expected = Network.Build(spec).ParameterCount;
        if (parameters.Length != expected)
        {
            throw new ArgumentException($"model '{spec.Name}' has {expected} parameters, got {parameters.Length}");
        }

        byte[] json = Encoding.UTF8.GetBytes(ModelSpecJson.Write(spec));
        ReadOnlySpan<byte> raw = MemoryMarshal.AsBytes(parameters);
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        Directory.CreateDirectory(dir!);
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write);
        Span<byte> u32 = stackalloc byte[4];
        file.Write(Magic);
        WriteU32(file, 1, u32);
        WriteU32(file, (uint)json.Length, u32);
        file.Write(json);
        WriteU32(file, (uint)parameters.Length, u32);
        file.Write(raw);
        file.Write(SHA256.HashData(raw));
    }

    public static (ModelSpec Spec, float[] Parameters) Read(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelFileException($"cannot read model file '{path}': {e.Message}");
        }

        ModelFileException Bad(string why) => new($"'{path}' is not a valid model file: {why} (export one with `train` (runs/<id>/model.cnnm) or `pbm train export`)");
        var span = bytes.AsSpan();
        if (span.Length < 16 || !span[..8].SequenceEqual(Magic))
        {
            throw Bad("it does not start with CNNMODEL");
        }

        uint version = BinaryPrimitives.ReadUInt32LittleEndian(span[8..]);
        if (version != 1)
        {
            throw Bad($"version {version} is not supported (1 is)");
        }

        // lengths are read as 64-bit and checked against the file before they are used: a header that
        // claims 4 GB of spec or parameters is a bad file, not an overflow
        long declaredJson = BinaryPrimitives.ReadUInt32LittleEndian(span[12..]);
        if (span.Length < 16 + declaredJson + 4)
        {
            throw Bad($"it is truncated in the model spec (the header says {declaredJson} bytes of spec, the file has {span.Length} bytes)");
        }

        int jsonLength = (int)declaredJson;

        ModelSpec spec;
        try
        {
            spec = ModelSpecJson.Parse(Encoding.UTF8.GetString(span.Slice(16, jsonLength)));
        }
        catch (ModelSpecException e)
        {
            throw Bad(e.Message);
        }

        int at = 16 + jsonLength;
        long count = BinaryPrimitives.ReadUInt32LittleEndian(span[at..]);
        at += 4;
        if (span.Length != at + (4 * count) + 32)
        {
            throw Bad($"it should hold {count} parameters and a checksum ({at + 4 * count + 32} bytes) but has {span.Length} bytes");
        }

        ReadOnlySpan<byte> raw = span.Slice(at, (int)(4 * count));
        if (!SHA256.HashData(raw).AsSpan().SequenceEqual(span[(at + (int)(4 * count))..]))
        {
            throw Bad("the parameters do not match their checksum");
        }

        float[] parameters = MemoryMarshal.Cast<byte, float>(raw).ToArray();
        int expected = Network.Build(spec).ParameterCount;
        if (parameters.Length != expected)
        {
            throw Bad($"model '{spec.Name}' has {expected} parameters but the file holds {parameters.Length}");
        }

        return (spec, parameters);
    }

    private static void WriteU32(Stream s, uint v, Span<byte> buffer)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(buffer, v);
        s.Write(buffer);
    }
}

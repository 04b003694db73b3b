using System.Buffers;
using System.Runtime.InteropServices;
using MessagePack;
using CnnCluster.Engine.Training;
using MessagePack.Formatters;

namespace CnnCluster.Shared.Serialization;

/// <summary>
/// float[] as one MessagePack bin of little-endian float32 bytes (4 bytes a value, one memcpy) instead
/// of an array of tagged floats (5 bytes a value, one call each).
/// </summary>
public sealed class RawFloatArrayFormatter : IMessagePackFormatter<float[]?>
{
    public static readonly RawFloatArrayFormatter Instance = new();

    /// <summary>Arrays this long (64 KiB and more, the large-object heap's range) are taken from the shared pool.</summary>
    public const int PoolThreshold = 16 * 1024;

    public void Serialize(ref MessagePackWriter writer, float[]? value, MessagePackSerializerOptions options)
    {
        if (value is null)
        {
            writer.WriteNil();
            return;
        }

        EnsureLittleEndian();
        writer.Write(MemoryMarshal.AsBytes(value.AsSpan()));
    }

    public float[]? Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options)
    {
        if (reader.TryReadNil())
        {
            return null;
        }

        EnsureLittleEndian();
        ReadOnlySequence<byte> bytes = reader.ReadBytes() ?? throw new MessagePackSerializationException("expected a float32 byte array");
        if (bytes.Length % sizeof(float) != 0)
        {
            throw new MessagePackSerializationException($"a float32 array cannot be {bytes.Length} bytes long");
        }

        // parameter- and gradient-sized arrays come from the process-wide pool; their receivers return them
        int count = (int)(bytes.Length / sizeof(float));
        float[] result = count >= PoolThreshold ? GradientBuffers.Shared(count).RentUncleared() : new float[count];
        bytes.CopyTo(MemoryMarshal.AsBytes(result.AsSpan()));
        return result;
    }

    private static void EnsureLittleEndian()
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("the wire format of float arrays is little-endian");
        }
    }
}

using System.Buffers.Binary;

namespace CnnCluster.Coordinator.Tests;

/// <summary>Writes an IDX file of unsigned bytes (magic 0x0000_08_DD, the sizes big-endian, then the data), as the datasets ship.</summary>
internal static class Idx
{
    public static void Write(string path, byte[] data, int[] dims)
    {
        using var file = File.Create(path);
        Span<byte> word = stackalloc byte[4];
        file.Write([0, 0, 8, (byte)dims.Length]);
        foreach (int d in dims)
        {
            BinaryPrimitives.WriteInt32BigEndian(word, d);
            file.Write(word);
        }

        file.Write(data);
    }
}

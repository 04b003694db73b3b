using System.Buffers.Binary;
using System.IO.Compression;

namespace CnnCluster.Engine.Data;

/// <summary>
/// An IDX file (the MNIST format), raw or gzipped: a big-endian magic 0x0000TTDD (TT = 0x08 for
/// unsigned bytes, DD = number of dimensions), DD big-endian int32 sizes, then the data.
/// </summary>
public sealed class IdxFile
{
    private IdxFile(int[] dimensions, byte[] data)
    {
        Dimensions = dimensions;
        Data = data;
    }

    public IReadOnlyList<int> Dimensions { get; }

    public byte[] Data { get; }

    /// <summary>Reads and validates an unsigned-byte IDX file with the given number of dimensions.</summary>
    public static IdxFile Read(string path, int expectedDimensions, string hint)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DatasetException($"cannot read {path}: {e.Message}. {hint}");
        }

        if (bytes.Length >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b)
        {
            try
            {
                bytes = Gunzip(bytes, path, hint);
            }
            catch (InvalidDataException e)
            {
                throw new DatasetException($"{path} is a corrupt or truncated gzip file ({e.Message}). {hint}");
            }
        }

        return Parse(bytes, path, expectedDimensions, hint);
    }

    /// <summary>The largest data set read (decompressed): far above Fashion-MNIST's 47 MB, far below a gzip bomb.</summary>
    public const long MaxBytes = 1L << 30;

    private static byte[] Gunzip(byte[] compressed, string path, string hint)
    {
        using var gz = new GZipStream(new MemoryStream(compressed), CompressionMode.Decompress);
        using var raw = new MemoryStream();
        byte[] buffer = new byte[81920];
        int read;
        while ((read = gz.Read(buffer, 0, buffer.Length)) > 0)
        {
            if (raw.Length + read > MaxBytes)
            {
                throw new DatasetException($"{path} decompresses to more than {MaxBytes >> 20} MiB, the most an IDX file may hold here. {hint}");
            }

            raw.Write(buffer, 0, read);
        }

        return raw.ToArray();
    }

    public static IdxFile Parse(ReadOnlySpan<byte> bytes, string path, int expectedDimensions, string hint)
    {
        if (bytes.Length < 4)
        {
            throw new DatasetException($"{path} is too short to be an IDX file ({bytes.Length} bytes). {hint}");
        }

        uint magic = BinaryPrimitives.ReadUInt32BigEndian(bytes);
        if ((magic >> 16) != 0 || ((magic >> 8) & 0xff) != 0x08 || (magic & 0xff) != expectedDimensions)
        {
            throw new DatasetException(
                $"{path} is not an unsigned-byte IDX file with {expectedDimensions} dimension(s): magic number 0x{magic:x8}, expected 0x{0x800 | expectedDimensions:x8}. {hint}");
        }

        int header = 4 + 4 * expectedDimensions;
        if (bytes.Length < header)
        {
            throw new DatasetException($"{path} is truncated inside its header ({bytes.Length} bytes). {hint}");
        }

        // the header's sizes are checked against the bytes there are before anything is multiplied
        // further or allocated: 16 images of 2^30 x 2^30 pixels overflow 64 bits, and would be "valid"
        var dims = new int[expectedDimensions];
        long count = 1;
        long available = bytes.Length - header;
        for (int i = 0; i < expectedDimensions; i++)
        {
            dims[i] = BinaryPrimitives.ReadInt32BigEndian(bytes[(4 + 4 * i)..]);
            if (dims[i] <= 0)
            {
                throw new DatasetException($"{path}: dimension {i} is {dims[i]}; sizes must be positive. {hint}");
            }

            if (count > available / dims[i])
            {
                throw new DatasetException(
                    $"{path} is truncated: its header [{string.Join(", ", dims.Take(i + 1))}{(i + 1 < expectedDimensions ? ", ..." : string.Empty)}] needs more than the {available} bytes of data it has. {hint}");
            }

            count *= dims[i];
        }

        long expected = header + count;
        if (bytes.Length != expected)
        {
            string what = bytes.Length < expected ? "truncated" : "longer than its header says";
            throw new DatasetException(
                $"{path} is {what}: {bytes.Length} bytes, header [{string.Join(", ", dims)}] needs {expected}. {hint}");
        }

        return new IdxFile(dims, bytes[header..].ToArray());
    }
}

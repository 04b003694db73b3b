using System.Buffers.Binary;
using System.IO.Compression;
using CnnCluster.Engine.Data;
using Xunit;

namespace CnnCluster.Engine.Tests;

/// <summary>The IDX reader against files written here: raw, gzipped, and broken in each way it must notice.</summary>
public sealed class IdxFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("idx-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void ReadsRawAndGzippedFiles()
    {
        byte[] images = Images(3, 2, 2, i => (byte)i);
        File.WriteAllBytes(Path.Combine(_dir, "a"), images);
        WriteGz(Path.Combine(_dir, "b.gz"), images);
        foreach (string name in new[] { "a", "b.gz" })
        {
            IdxFile f = IdxFile.Read(Path.Combine(_dir, name), 3, "hint");
            Assert.Equal(new[] { 3, 2, 2 }, f.Dimensions);
            Assert.Equal(Enumerable.Range(0, 12).Select(i => (byte)i), f.Data);
        }
    }

    [Fact]
    public void LoadsASetAndNormalizesWithTheTrainingStatistics()
    {
        WriteSet(_dir, trainCount: 4, testCount: 2);
        DatasetSplits s = MnistFormat.Load(_dir);
        Assert.Equal(4, s.Train.Count);
        Assert.Equal(2, s.Test.Count);
        Assert.Equal(s.Train.Mean, s.Test.Mean);
        var x = new float[2 * 4];
        var labels = new int[2];
        s.Train.Load([1, 3], x, labels);
        Assert.Equal(new[] { 1, 3 }, labels);
        Assert.Equal((1 / 255f - s.Train.Mean) / s.Train.Std, x[0], 4);
    }

    [Fact]
    public void BadMagicIsNamed()
    {
        byte[] bytes = Images(1, 2, 2, _ => 0);
        bytes[2] = 0x09;
        string path = Path.Combine(_dir, "bad");
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<DatasetException>(() => IdxFile.Read(path, 3, "HINT"));
        Assert.Contains(path, e.Message);
        Assert.Contains("magic number 0x00000903", e.Message);
        Assert.Contains("HINT", e.Message);
    }

    [Fact]
    public void TruncatedFileIsNamed()
    {
        byte[] bytes = Images(5, 4, 4, _ => 1);
        string path = Path.Combine(_dir, "short");
        File.WriteAllBytes(path, bytes[..^7]);
        var e = Assert.Throws<DatasetException>(() => IdxFile.Read(path, 3, "HINT"));
        Assert.Contains("truncated", e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void CorruptGzipIsNamed()
    {
        string path = Path.Combine(_dir, "c.gz");
        WriteGz(path, Images(5, 4, 4, _ => 1));
        byte[] gz = File.ReadAllBytes(path);
        File.WriteAllBytes(path, gz[..(gz.Length / 2)]);
        var e = Assert.Throws<DatasetException>(() => IdxFile.Read(path, 3, "HINT"));
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void MissingDataSaysWhereItLookedAndHowToInstall()
    {
        string empty = Path.Combine(_dir, "nothing-here");
        var e = Assert.Throws<DatasetException>(() => MnistFormat.Load(empty));
        Assert.Contains(empty, e.Message);
        Assert.Contains("apt-get install -y dataset-fashion-mnist", e.Message);
    }

    [Fact]
    public void MismatchedImageAndLabelCountsAreRefused()
    {
        WriteSet(_dir, trainCount: 4, testCount: 2);
        File.WriteAllBytes(Path.Combine(_dir, "train-labels-idx1-ubyte"), Labels(3));
        var e = Assert.Throws<DatasetException>(() => MnistFormat.Load(_dir));
        Assert.Contains("holds 4 images but", e.Message);
    }

    internal static void WriteSet(string dir, int trainCount, int testCount)
    {
        File.WriteAllBytes(Path.Combine(dir, "train-images-idx3-ubyte"), Images(trainCount, 2, 2, i => (byte)(i / 4)));
        File.WriteAllBytes(Path.Combine(dir, "train-labels-idx1-ubyte"), Labels(trainCount));
        WriteGz(Path.Combine(dir, "t10k-images-idx3-ubyte.gz"), Images(testCount, 2, 2, i => (byte)(7 * i)));
        WriteGz(Path.Combine(dir, "t10k-labels-idx1-ubyte.gz"), Labels(testCount));
    }

    private static byte[] Images(int n, int h, int w, Func<int, byte> pixel)
    {
        var b = new byte[16 + n * h * w];
        BinaryPrimitives.WriteUInt32BigEndian(b, 0x803);
        BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(4), n);
        BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(8), h);
        BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(12), w);
        for (int i = 0; i < n * h * w; i++)
        {
            b[16 + i] = pixel(i);
        }

        return b;
    }

    private static byte[] Labels(int n)
    {
        var b = new byte[8 + n];
        BinaryPrimitives.WriteUInt32BigEndian(b, 0x801);
        BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(4), n);
        for (int i = 0; i < n; i++)
        {
            b[8 + i] = (byte)(i % 10);
        }

        return b;
    }

    private static void WriteGz(string path, byte[] data)
    {
        using var file = File.Create(path);
        using var gz = new GZipStream(file, CompressionLevel.Fastest);
        gz.Write(data);
    }
}

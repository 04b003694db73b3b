using CnnCluster.Engine.Tensors;

namespace CnnCluster.Engine.Data;

/// <summary>A train and a test split.</summary>
public sealed record DatasetSplits(string Directory, LabeledImages Train, LabeledImages Test);

/// <summary>
/// Finds and loads an MNIST-format dataset (Fashion-MNIST by default): train-images-idx3-ubyte,
/// train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each optionally ".gz".
/// Looks in --data DIR, then $CNN_DATA, then /usr/share/datasets/fashion-mnist.
/// </summary>
public static class MnistFormat
{
    public const string DefaultDirectory = "/usr/share/datasets/fashion-mnist";
    public const string EnvironmentVariable = "CNN_DATA";
    public const string InstallHint = "Install Fashion-MNIST with `apt-get install -y dataset-fashion-mnist` (files go to /usr/share/datasets/fashion-mnist) or pass --data DIR with the four IDX files.";

    /// <summary>The directory to use: the explicit one, else $CNN_DATA, else the Debian package's.</summary>
    public static string Locate(string? explicitDirectory)
    {
        var tried = new List<string>();
        foreach ((string? dir, string source) in new[]
                 {
                     (explicitDirectory, "--data"),
                     (Environment.GetEnvironmentVariable(EnvironmentVariable), "$" + EnvironmentVariable),
                     (DefaultDirectory, "default"),
                 })
        {
            if (string.IsNullOrWhiteSpace(dir))
            {
                continue;
            }

            if (Directory.Exists(dir) && FindFile(dir, "train-images-idx3-ubyte") is not null)
            {
                return dir;
            }

            tried.Add($"{dir} ({source})");
            if (source == "--data")
            {
                // an explicit directory that does not hold the data is an error, not a hint to look elsewhere
                break;
            }
        }

        throw new DatasetException($"no MNIST-format dataset found: looked in {string.Join(", ", tried)}. {InstallHint}");
    }

    public static DatasetSplits Load(string? explicitDirectory)
    {
        string dir = Locate(explicitDirectory);
        (byte[] trainPixels, byte[] trainLabels, Shape3 shape) = ReadPair(dir, "train");
        (byte[] testPixels, byte[] testLabels, Shape3 testShape) = ReadPair(dir, "t10k");
        if (testShape != shape)
        {
            throw new DatasetException($"{dir}: test images are {testShape} but training images are {shape}. {InstallHint}");
        }

        int classes = Math.Max(trainLabels.Max(), testLabels.Max()) + 1;
        (float mean, float std) = LabeledImages.Statistics(trainPixels);
        return new DatasetSplits(
            dir,
            new LabeledImages(shape, trainPixels, trainLabels, classes, mean, std),
            new LabeledImages(shape, testPixels, testLabels, classes, mean, std));
    }

    private static (byte[] Pixels, byte[] Labels, Shape3 Shape) ReadPair(string dir, string prefix)
    {
        string images = FindFile(dir, $"{prefix}-images-idx3-ubyte") ?? throw Missing(dir, $"{prefix}-images-idx3-ubyte[.gz]");
        string labels = FindFile(dir, $"{prefix}-labels-idx1-ubyte") ?? throw Missing(dir, $"{prefix}-labels-idx1-ubyte[.gz]");
        IdxFile img = IdxFile.Read(images, 3, InstallHint);
        IdxFile lab = IdxFile.Read(labels, 1, InstallHint);
        if (img.Dimensions[0] != lab.Dimensions[0])
        {
            throw new DatasetException($"{images} holds {img.Dimensions[0]} images but {labels} holds {lab.Dimensions[0]} labels. {InstallHint}");
        }

        return (img.Data, lab.Data, new Shape3(1, img.Dimensions[1], img.Dimensions[2]));
    }

    private static string? FindFile(string dir, string name)
    {
        foreach (string candidate in new[] { name, name + ".gz" })
        {
            string path = Path.Combine(dir, candidate);
            if (File.Exists(path))
            {
                return path;
            }
        }

        return null;
    }

    private static DatasetException Missing(string dir, string name) => new($"{Path.Combine(dir, name)} is missing. {InstallHint}");
}

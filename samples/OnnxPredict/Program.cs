using System.Buffers.Binary;
using System.IO.Compression;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

// OnnxPredict MODEL.onnx [IMAGES-idx3-ubyte[.gz] LABELS-idx1-ubyte[.gz]]
// Classifies images with a model exported by CnnCluster (`train --export onnx`, `export`, `pbm train export --format onnx`)
// and prints the accuracy. The graph takes raw 0-255 pixels (N, C, H, W) as "pixels" and normalises them itself.
// Default images: the Fashion-MNIST test set of $CNN_DATA, else /usr/share/datasets/fashion-mnist.
if (args.Length is not (1 or 3))
{
    Console.Error.WriteLine("usage: OnnxPredict MODEL.onnx [IMAGES-idx3-ubyte[.gz] LABELS-idx1-ubyte[.gz]]");
    return 2;
}

try
{
    string dir = Environment.GetEnvironmentVariable("CNN_DATA") ?? "/usr/share/datasets/fashion-mnist";
    string images = args.Length == 3 ? args[1] : Find(dir, "t10k-images-idx3-ubyte");
    string labelFile = args.Length == 3 ? args[2] : Find(dir, "t10k-labels-idx1-ubyte");
    (byte[] pixels, int[] dims) = ReadIdx(images);
    (byte[] labels, _) = ReadIdx(labelFile);
    int n = dims[0], h = dims[1], w = dims[2];
    if (labels.Length != n)
    {
        throw new InvalidDataException($"{images} holds {n} images but {labelFile} {labels.Length} labels");
    }

    using var session = new InferenceSession(args[0]);
    var input = new DenseTensor<float>([n, 1, h, w]);
    for (int i = 0; i < pixels.Length; i++)
    {
        input.Buffer.Span[i] = pixels[i];
    }

    var clock = System.Diagnostics.Stopwatch.StartNew();
    using var results = session.Run([NamedOnnxValue.CreateFromTensor("pixels", input)]);
    Tensor<float> logits = results.First(r => r.Name == "logits").AsTensor<float>();
    int classes = (int)logits.Dimensions[1], correct = 0;
    for (int s = 0; s < n; s++)
    {
        int best = 0;
        for (int c = 1; c < classes; c++)
        {
            if (logits[s, c] > logits[s, best])
            {
                best = c;
            }
        }

        correct += best == labels[s] ? 1 : 0;
    }

    string model = session.ModelMetadata.CustomMetadataMap.GetValueOrDefault("model", "?");
    Console.WriteLine($"{model}: {correct} of {n} images right, accuracy {(double)correct / n:F4} ({clock.Elapsed.TotalMilliseconds:F0} ms in ONNX Runtime)");
    return 0;
}
catch (Exception e) when (e is IOException or InvalidDataException or OnnxRuntimeException or UnauthorizedAccessException)
{
    Console.Error.WriteLine($"error: {e.Message.ReplaceLineEndings(" ")}");
    return 3;
}

static string Find(string dir, string name) =>
    File.Exists(Path.Combine(dir, name)) ? Path.Combine(dir, name)
    : File.Exists(Path.Combine(dir, name + ".gz")) ? Path.Combine(dir, name + ".gz")
    : throw new FileNotFoundException($"no {name}[.gz] in {dir} (set CNN_DATA or give the files)");

// an IDX file of unsigned bytes: magic 0x0000_08_DD (DD dimensions), the sizes big-endian, then the data
static (byte[] Data, int[] Dims) ReadIdx(string path)
{
    using Stream file = File.OpenRead(path);
    using Stream s = path.EndsWith(".gz", StringComparison.Ordinal) ? new GZipStream(file, CompressionMode.Decompress) : file;
    using var all = new MemoryStream();
    s.CopyTo(all);
    byte[] b = all.ToArray();
    if (b.Length < 4 || b[0] != 0 || b[1] != 0 || b[2] != 8)
    {
        throw new InvalidDataException($"{path} is not an IDX file of bytes");
    }

    int rank = b[3];
    int[] dims = new int[rank];
    long size = 1;
    for (int i = 0; i < rank; i++)
    {
        dims[i] = BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(4 + (4 * i)));
        size *= dims[i];
    }

    int header = 4 + (4 * rank);
    if (b.Length != header + size)
    {
        throw new InvalidDataException($"{path} should hold {size} bytes after its header but holds {b.Length - header}");
    }

    return (b[header..], dims);
}

using System.Numerics.Tensors;
using CnnCluster.Engine.Tensors;

namespace CnnCluster.Engine.Data;

/// <summary>
/// Images and labels kept as bytes; a sample is turned into normalized floats when it is loaded into a
/// batch: x = (pixel / 255 − mean) / std, with mean and std of the training set.
/// </summary>
public sealed class LabeledImages
{
    public LabeledImages(Shape3 shape, byte[] pixels, byte[] labels, int classes, float mean, float std)
    {
        if (pixels.Length != labels.Length * shape.Size)
        {
            throw new ArgumentException($"{pixels.Length} pixels do not make {labels.Length} images of {shape}");
        }

        Shape = shape;
        Pixels = pixels;
        Labels = labels;
        Classes = classes;
        Mean = mean;
        Std = std;
    }

    public Shape3 Shape { get; }

    public byte[] Pixels { get; }

    public byte[] Labels { get; }

    public int Count => Labels.Length;

    public int Classes { get; }

    public float Mean { get; }

    public float Std { get; }

    /// <summary>The loaded value of a zero (black) pixel, exactly as <see cref="Load"/> makes it: what augmentation pads with.</summary>
    public float Background => (0 * (1f / (255f * Std))) - (Mean / Std);

    /// <summary>The first <paramref name="count"/> samples (all when count is larger).</summary>
    public LabeledImages Take(int count)
    {
        if (count >= Count)
        {
            return this;
        }

        return new LabeledImages(Shape, Pixels[..(count * Shape.Size)], Labels[..count], Classes, Mean, Std);
    }

    /// <summary>Same images, normalized with another set's statistics (the test set uses the training set's).</summary>
    public LabeledImages WithNormalization(float mean, float std) => new(Shape, Pixels, Labels, Classes, mean, std);

    /// <summary>Writes samples indices[0..n) as floats into x (n, C, H, W) and their labels.</summary>
    public void Load(ReadOnlySpan<int> indices, Span<float> x, Span<int> labels)
    {
        int size = Shape.Size;
        float scale = 1f / (255f * Std), shift = Mean / Std;
        for (int s = 0; s < indices.Length; s++)
        {
            int index = indices[s];
            ReadOnlySpan<byte> src = Pixels.AsSpan(index * size, size);
            Span<float> dst = x.Slice(s * size, size);
            // dst[i] = src[i] · scale − shift, two roundings as the scalar form (not fused): the byte's float is exact
            TensorPrimitives.ConvertTruncating<byte, float>(src, dst);
            TensorPrimitives.Multiply(dst, scale, dst);
            TensorPrimitives.Subtract(dst, shift, dst);

            labels[s] = Labels[index];
        }
    }

    /// <summary>Mean and standard deviation of the pixels scaled to [0, 1].</summary>
    public static (float Mean, float Std) Statistics(byte[] pixels)
    {
        double sum = 0, sumSq = 0;
        foreach (byte b in pixels)
        {
            double v = b / 255.0;
            sum += v;
            sumSq += v * v;
        }

        double mean = sum / pixels.Length;
        double var = Math.Max(sumSq / pixels.Length - mean * mean, 1e-12);
        return ((float)mean, (float)Math.Sqrt(var));
    }
}

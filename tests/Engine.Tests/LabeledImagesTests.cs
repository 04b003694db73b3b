using Xunit;
using CnnCluster.Engine.Data;
using CnnCluster.Engine.Tensors;

namespace CnnCluster.Engine.Tests;

public class LabeledImagesTests
{
    [Theory]
    [InlineData(0.2860402f, 0.3530239f)] // Fashion-MNIST's training set
    [InlineData(0.1307f, 0.3081f)]       // MNIST's
    [InlineData(0.5f, 1f / 3f)]
    public void LoadGivesEveryPixelValueTheScalarFormsBits(float mean, float std)
    {
        // every byte value, in images of 784 (vectors and a tail): x = b · (1 / (255 std)) − mean / std, two roundings
        var shape = new Shape3(1, 28, 28);
        var rng = new Rng(7);
        byte[] pixels = new byte[3 * shape.Size];
        for (int i = 0; i < pixels.Length; i++)
        {
            pixels[i] = i < 256 ? (byte)i : (byte)rng.NextInt(256);
        }

        var images = new LabeledImages(shape, pixels, [1, 2, 3], 10, mean, std);
        float[] x = Enumerable.Repeat(float.NaN, 2 * shape.Size + 1).ToArray();
        int[] labels = new int[2];
        images.Load([2, 0], x, labels); // one float more than two images: Load must leave it

        float scale = 1f / (255f * std), shift = mean / std;
        for (int s = 0; s < 2; s++)
        {
            int index = s == 0 ? 2 : 0;
            for (int i = 0; i < shape.Size; i++)
            {
                float expected = (pixels[(index * shape.Size) + i] * scale) - shift;
                Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(x[(s * shape.Size) + i]));
            }
        }

        Assert.True(float.IsNaN(x[^1]), "a float past the images was written");
        Assert.Equal([3, 1], labels);
    }
}

using CnnCluster.Engine.Data;
using CnnCluster.Engine.Layers;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Tensors;
using CnnCluster.Engine.Training;
using Xunit;

namespace CnnCluster.Engine.Tests;

/// <summary>Shifts and flips of --augment: the transform of a known image, and a draw fixed by (seed, epoch, sample) alone.</summary>
public sealed class AugmentationTests
{
    private static readonly Shape3 Shape = new(2, 3, 4);

    // a known image: value = 100·c + 10·y + x + 1, so every pixel says where it came from
    private static float[] Image() => [.. Enumerable.Range(0, Shape.Size).Select(i => (float)((100 * (i / 12)) + (10 * (i % 12 / 4)) + (i % 4) + 1))];

    private static float At(float[] image, int c, int y, int x) => image[(c * 12) + (y * 4) + x];

    [Fact]
    public void AShiftMovesThePictureAndPadsWithTheFill()
    {
        float[] image = Image();
        Augmentation.Apply(new Augmentation.Transform(Dx: 2, Dy: -1, Flip: false), Shape, image, fill: 0f, new float[Shape.Size]);
        for (int c = 0; c < 2; c++)
        {
            for (int y = 0; y < 3; y++)
            {
                for (int x = 0; x < 4; x++)
                {
                    // out[y, x] = in[y + 1, x − 2]: the bottom row and the two left columns are padding
                    float expected = y == 2 || x < 2 ? 0f : (100 * c) + (10 * (y + 1)) + (x - 2) + 1;
                    Assert.Equal(expected, At(image, c, y, x));
                }
            }
        }
    }

    [Fact]
    public void AFlipMirrorsEachRowThenTheShiftApplies()
    {
        float[] flipped = Image();
        Augmentation.Apply(new Augmentation.Transform(0, 0, Flip: true), Shape, flipped, fill: 0f, new float[Shape.Size]);
        Assert.Equal([4f, 3f, 2f, 1f], flipped[..4]);
        Assert.Equal([124f, 123f, 122f, 121f], flipped[20..24]);

        float[] both = Image();
        Augmentation.Apply(new Augmentation.Transform(Dx: -1, Dy: 1, Flip: true), Shape, both, fill: -7f, new float[Shape.Size]);
        Assert.Equal([-7f, -7f, -7f, -7f], both[..4]); // the top row is padding
        Assert.Equal([3f, 2f, 1f, -7f], both[4..8]); // row 0 mirrored (4 3 2 1), moved left by one
    }

    [Fact]
    public void NoTransformLeavesTheImage()
    {
        float[] image = Image();
        Augmentation.Apply(default, Shape, image, fill: 0f, new float[Shape.Size]);
        Assert.Equal(Image(), image);
    }

    [Fact]
    public void TheDrawIsFixedBySeedEpochAndSample()
    {
        Assert.Equal(Augmentation.For(3, 1, 500), Augmentation.For(3, 1, 500));

        Augmentation.Transform[] epoch0 = [.. Enumerable.Range(0, 1000).Select(i => Augmentation.For(3, 0, i))];
        Augmentation.Transform[] epoch1 = [.. Enumerable.Range(0, 1000).Select(i => Augmentation.For(3, 1, i))];
        Augmentation.Transform[] seed4 = [.. Enumerable.Range(0, 1000).Select(i => Augmentation.For(4, 0, i))];
        // two independent draws agree about a quarter of the time (both left as they are)
        Assert.True(epoch0.Zip(epoch1).Count(p => p.First != p.Second) > 650, "another epoch draws other transforms");
        Assert.True(epoch0.Zip(seed4).Count(p => p.First != p.Second) > 650, "another seed draws other transforms");

        // about half left as they are (and 1 in 50 of the rest drawn as no move); the others take every
        // shift from −2 to 2 each way and flip half the time
        Assert.InRange(epoch0.Count(t => t == default), 440, 580);
        Assert.Equal(Enumerable.Range(-2, 5), epoch0.Select(t => t.Dx).Distinct().Order());
        Assert.Equal(Enumerable.Range(-2, 5), epoch0.Select(t => t.Dy).Distinct().Order());
        Assert.InRange(epoch0.Count(t => t.Flip), 190, 310);
    }

    [Fact]
    public void AWorkspaceAugmentsAtTrainingOnlyWithTheBackgroundAsPadding()
    {
        // three 28×28 images with no black pixel, so padding shows as the background value
        var pixels = new byte[3 * 784];
        Array.Fill(pixels, (byte)200);
        var data = new LabeledImages(new Shape3(1, 28, 28), pixels, [0, 1, 2], 10, 0.3f, 0.35f);
        var network = Network.Build(Presets.LeNet5);
        var workspace = new Workspace(network, 3);
        int[] samples = [2, 0, 1];
        Assert.Contains(samples, i => Augmentation.For(9, 4, i) != default); // not all three left as they are

        workspace.Load(data, samples, PassContext.ForTraining(9, 0, 4, augment: true));
        float[] augmented = workspace.Input(3).ToArray();
        workspace.Load(data, samples, PassContext.ForTraining(9, 0, 4, augment: false));
        float[] plain = workspace.Input(3).ToArray();
        Assert.All(plain, v => Assert.Equal(plain[0], v));

        for (int s = 0; s < 3; s++)
        {
            float[] expected = plain[(s * 784)..((s + 1) * 784)];
            Augmentation.Apply(Augmentation.For(9, 4, samples[s]), data.Shape, expected, data.Background, new float[784]);
            Assert.Equal(expected, augmented[(s * 784)..((s + 1) * 784)]);
        }

        Assert.Contains(data.Background, augmented);
        workspace.Load(data, samples, PassContext.Evaluation with { Augment = true });
        Assert.Equal(plain, workspace.Input(3).ToArray());
    }
}

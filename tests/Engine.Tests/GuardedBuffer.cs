using CnnCluster.Engine.Layers;
using Xunit;

namespace CnnCluster.Engine.Tests;

/// <summary>
/// A buffer with canary regions before and after it, filled with a NaN bit pattern that no computation
/// produces (a NaN whose payload names the buffer and the position): a kernel that reads past its operand takes in NaN (and its result shows it), one that
/// writes past it breaks a canary. Outputs and scratch start as NaN too, so reading a value before it
/// was written is also seen.
/// </summary>
internal sealed class GuardedBuffer
{
    public const int Guard = 64;

    private static int _buffers;

    private readonly float[] _store;
    private readonly uint _tag;

    private GuardedBuffer(int length)
    {
        Length = length;
        _store = new float[length + 2 * Guard];
        _tag = (uint)Interlocked.Increment(ref _buffers);
        for (int i = 0; i < _store.Length; i++)
        {
            _store[i] = BitConverter.UInt32BitsToSingle(Canary(i));
        }
    }

    public int Length { get; }

    public Span<float> Span => _store.AsSpan(Guard, Length);

    /// <summary>An input holding a copy of <paramref name="values"/>.</summary>
    public static GuardedBuffer Of(ReadOnlySpan<float> values)
    {
        var b = new GuardedBuffer(values.Length);
        values.CopyTo(b.Span);
        return b;
    }

    /// <summary>An output or scratch area that starts as NaN.</summary>
    public static GuardedBuffer Poisoned(int length)
    {
        var b = new GuardedBuffer(length);
        b.Span.Fill(float.NaN);
        return b;
    }

    /// <summary>A gradient the layer adds into: zero inside, canaries around.</summary>
    public static GuardedBuffer Zeroed(int length)
    {
        var b = new GuardedBuffer(length);
        b.Span.Clear();
        return b;
    }

    public float[] ToArray() => Span.ToArray();

    // a quiet NaN whose payload names this buffer and position: arithmetic passes a NaN on unchanged, so a
    // kernel that reads one canary and writes it elsewhere is still caught (a signalling NaN would not
    // survive as a constant: the JIT folds float constants through double, which sets the quiet bit)
    private uint Canary(int position) => 0x7FC0_0000u | ((((_tag * 0x9E37u) ^ (uint)position) * 2654435761u) & 0x003F_FFFFu) | 1u;

    /// <summary>Fails if anything outside the buffer was written.</summary>
    public void AssertCanaries(string what)
    {
        for (int i = 0; i < _store.Length; i = i == Guard - 1 ? Guard + Length : i + 1)
        {
            Assert.True(BitConverter.SingleToUInt32Bits(_store[i]) == Canary(i), $"{what}: written {(i < Guard ? Guard - i : i - Guard - Length + 1)} floats {(i < Guard ? "before" : "past")} its end");
        }
    }

    /// <summary>Fails if an input was modified.</summary>
    public void AssertUnchanged(ReadOnlySpan<float> original, string what)
    {
        AssertCanaries(what);
        Assert.True(Span.SequenceEqual(original), $"{what}: an input was modified");
    }
}

/// <summary>A layer's forward and backward on guarded buffers, shared by the fuzz suite and the libtorch oracle.</summary>
internal static class GuardedRun
{
    /// <summary>
    /// y, dx and dp of one forward and backward pass, each operand guarded; fails if anything was written
    /// outside a buffer, an input was modified, or the backward pass wrote into y.
    /// </summary>
    public static (float[] Y, float[] Dx, float[] Dp) Layer(Layer layer, int n, float[] x, float[] p, float[] dy, string what)
    {
        GuardedBuffer gx = GuardedBuffer.Of(x), gp = GuardedBuffer.Of(p), gdy = GuardedBuffer.Of(dy);
        GuardedBuffer y = GuardedBuffer.Poisoned(n * layer.Output.Size), dx = GuardedBuffer.Poisoned(x.Length), scratch = GuardedBuffer.Poisoned(layer.ScratchSize(n));
        GuardedBuffer dp = GuardedBuffer.Zeroed(p.Length);
        layer.Forward(n, gx.Span, y.Span, gp.Span, scratch.Span);
        float[] forward = y.ToArray();
        layer.Backward(n, gx.Span, y.Span, gdy.Span, dx.Span, gp.Span, dp.Span, scratch.Span);
        AssertGuards(what, [(y, "y"), (dx, "dx"), (dp, "dp"), (scratch, "scratch")], [(gx, x, "x"), (gp, p, "p"), (gdy, dy, "dy")]);
        Assert.True(y.Span.SequenceEqual(forward), $"{what}: backward wrote into y");
        return (forward, dx.ToArray(), dp.ToArray());
    }

    /// <summary>Nothing written outside any buffer, no input modified.</summary>
    public static void AssertGuards(string what, (GuardedBuffer Buffer, string Name)[] outputs, (GuardedBuffer Buffer, float[] Original, string Name)[] inputs)
    {
        foreach ((GuardedBuffer buffer, string name) in outputs)
        {
            buffer.AssertCanaries($"{what}: {name}");
        }

        foreach ((GuardedBuffer buffer, float[] original, string name) in inputs)
        {
            buffer.AssertUnchanged(original, $"{what}: {name}");
        }
    }
}

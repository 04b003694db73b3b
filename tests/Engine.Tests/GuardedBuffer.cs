using Xunit;

namespace CnnCluster.Engine.Tests;

/// <summary>
/// A buffer with canary regions before and after it, filled with a NaN bit pattern that no computation
/// produces (<see cref="Canary"/>): a kernel that reads past its operand takes in NaN (and its result shows it), one that
/// writes past it breaks a canary. Outputs and scratch start as NaN too, so reading a value before it
/// was written is also seen.
/// </summary>
internal sealed class GuardedBuffer
{
    public const int Guard = 64;

    // a quiet NaN with a payload no computation makes (a signalling one would not survive: the JIT folds
    // float constants through double, which sets the quiet bit)
    private const uint Canary = 0x7FC5_A5A5;

    private readonly float[] _store;

    private GuardedBuffer(int length)
    {
        Length = length;
        _store = new float[length + 2 * Guard];
        Array.Fill(_store, BitConverter.UInt32BitsToSingle(Canary));
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

    /// <summary>Fails if anything outside the buffer was written.</summary>
    public void AssertCanaries(string what)
    {
        for (int i = 0; i < _store.Length; i = i == Guard - 1 ? Guard + Length : i + 1)
        {
            Assert.True(BitConverter.SingleToUInt32Bits(_store[i]) == Canary, $"{what}: written {(i < Guard ? Guard - i : i - Guard - Length + 1)} floats {(i < Guard ? "before" : "past")} its end");
        }
    }

    /// <summary>Fails if an input was modified.</summary>
    public void AssertUnchanged(ReadOnlySpan<float> original, string what)
    {
        AssertCanaries(what);
        Assert.True(Span.SequenceEqual(original), $"{what}: an input was modified");
    }
}

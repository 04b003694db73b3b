using System.Collections.Concurrent;

namespace CnnCluster.Engine.Training;

/// <summary>
/// A thread-safe pool of parameter-sized float buffers, so that the steady state of training
/// allocates no gradient memory.
/// </summary>
public sealed class GradientBuffers(int length)
{
    private readonly ConcurrentBag<float[]> _free = new();

    public int Length { get; } = length;

    /// <summary>A zeroed buffer.</summary>
    public float[] Rent()
    {
        if (_free.TryTake(out float[]? buffer))
        {
            Array.Clear(buffer);
            return buffer;
        }

        return new float[Length];
    }

    public void Return(float[] buffer)
    {
        if (buffer.Length != Length)
        {
            throw new ArgumentException($"buffer of {buffer.Length} floats returned to a pool of {Length}");
        }

        _free.Add(buffer);
    }
}

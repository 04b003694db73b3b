using System.Collections.Concurrent;

namespace CnnCluster.Engine.Training;

/// <summary>
/// A thread-safe pool of parameter-sized float buffers, so that the steady state of training
/// allocates no gradient memory. Buffers made elsewhere (e.g. gradients received from workers) may be
/// returned too; beyond <see cref="MaxPooled"/> they are left to the garbage collector.
/// </summary>
public sealed class GradientBuffers(int length)
{
    public const int MaxPooled = 64;

    private static readonly ConcurrentDictionary<int, GradientBuffers> SharedPools = new();
    private readonly ConcurrentBag<float[]> _free = new();

    /// <summary>
    /// The process-wide pool for buffers of this length: parameter copies and gradients move between the
    /// coordinator's and the in-process workers' code, so they share one pool and no step allocates.
    /// </summary>
    public static GradientBuffers Shared(int length) => SharedPools.GetOrAdd(length, l => new GradientBuffers(l));

    public int Length { get; } = length;

    /// <summary>A zeroed buffer.</summary>
    public float[] Rent()
    {
        float[] buffer = RentUncleared();
        Array.Clear(buffer);
        return buffer;
    }

    /// <summary>A buffer with whatever it held before, for callers that overwrite all of it.</summary>
    public float[] RentUncleared() => _free.TryTake(out float[]? buffer) ? buffer : new float[Length];

    public void Return(float[] buffer)
    {
        if (buffer.Length != Length)
        {
            throw new ArgumentException($"buffer of {buffer.Length} floats returned to a pool of {Length}");
        }

        if (_free.Count < MaxPooled)
        {
            _free.Add(buffer);
        }
    }
}

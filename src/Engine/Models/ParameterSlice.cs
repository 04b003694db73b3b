namespace CnnCluster.Engine.Models;

/// <summary>
/// A contiguous part [Start, End) of the flat parameter buffer: what one owner of the sharded all-reduce
/// sums, updates and sends to the others (DESIGN §5). Every step of the update is elementwise or reads
/// only the step's starting parameters, so any partition into slices gives the bits of the whole.
/// </summary>
public readonly record struct ParameterSlice(int Start, int Count)
{
    public int End => Start + Count;

    /// <summary>The whole buffer of <paramref name="parameterCount"/> parameters.</summary>
    public static ParameterSlice All(int parameterCount) => new(0, parameterCount);

    /// <summary><paramref name="owners"/> contiguous slices covering [0, P) in order, their sizes differing by at most one.</summary>
    public static ParameterSlice[] Partition(int parameterCount, int owners)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(owners, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(parameterCount, owners);
        var slices = new ParameterSlice[owners];
        int start = 0;
        for (int k = 0; k < owners; k++)
        {
            int count = parameterCount / owners + (k < parameterCount % owners ? 1 : 0);
            slices[k] = new ParameterSlice(start, count);
            start += count;
        }

        return slices;
    }

    /// <summary>The part of [from, from + count) inside this slice, or null when they do not meet.</summary>
    public ParameterSlice? Within(int from, int count)
    {
        int start = Math.Max(Start, from), end = Math.Min(End, from + count);
        return start < end ? new ParameterSlice(start, end - start) : null;
    }
}

/// <summary>The batch's summed gradient over <see cref="Slice"/> (Gradient[0] is parameter Slice.Start).</summary>
public readonly record struct SliceGradient(ParameterSlice Slice, float[] Gradient);

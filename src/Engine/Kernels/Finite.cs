using System.Numerics.Tensors;

namespace CnnCluster.Engine.Kernels;

/// <summary>Whether values received from another machine are all finite, at the cost of one SIMD sum.</summary>
public static class Finite
{
    /// <summary>
    /// The index of the first value that is NaN or infinite, or -1. A finite sum means every value is
    /// finite (a NaN or an infinity never sums to a finite value); only a sum that is not finite (or one
    /// that overflowed) needs the value-by-value look.
    /// </summary>
    public static int FirstNotFinite(ReadOnlySpan<float> values)
    {
        if (float.IsFinite(TensorPrimitives.Sum(values)))
        {
            return -1;
        }

        for (int i = 0; i < values.Length; i++)
        {
            if (!float.IsFinite(values[i]))
            {
                return i;
            }
        }

        return -1;
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace CnnCluster.Engine.Kernels;

/// <summary>
/// Sums whose order is fixed by the algorithm, not by the CPU (the numeric contract, README): 16
/// logical lanes, lane l adds elements l, l + 16, l + 32, … in order (the last partial row padded
/// with zeros), then the lanes fold in halves: l + (l + 8) for l &lt; 8, then + 4, + 2, + 1. A 512-bit
/// register holds the 16 lanes, two 256-bit or four 128-bit registers hold them elsewhere; without
/// hardware vectors .NET emulates them with the same IEEE additions.
/// </summary>
public static class Reduce
{
    public const int Lanes = 16;

    /// <summary>Σ x in the contract's order.</summary>
    public static float Sum(ReadOnlySpan<float> x) => Simd.Widest switch
    {
        VectorWidth.W512 => Sum<V512, Vector512<float>>(x),
        VectorWidth.W256 => Sum<V256, Vector256<float>>(x),
        _ => Sum<V128, Vector128<float>>(x),
    };

    /// <summary>The same order written plainly: the reference <see cref="Sum(ReadOnlySpan{float})"/> is tested against.</summary>
    public static float SumReference(ReadOnlySpan<float> x)
    {
        Span<float> lanes = stackalloc float[Lanes];
        lanes.Clear();
        for (int i = 0; i < x.Length; i++)
        {
            lanes[i % Lanes] += x[i];
        }

        // the padded tail adds +0 to the lanes it does not reach: −0 + 0 is +0, as in the vector form
        if (x.Length % Lanes != 0)
        {
            for (int l = x.Length % Lanes; l < Lanes; l++)
            {
                lanes[l] += 0f;
            }
        }

        return Fold(lanes);
    }

    /// <summary>
    /// sums[p] = Σ x[p·length .. (p + 1)·length) in the contract's order, for every p &lt; sums.Length: the same bits as
    /// <see cref="Sum(ReadOnlySpan{float})"/> of each, two rows at a time, so that one row's additions wait less on
    /// the last ones' (each lane's sum is a chain of dependent additions).
    /// </summary>
    public static void SumEach(ReadOnlySpan<float> x, int length, Span<float> sums)
    {
        if (length < 0 || x.Length < (long)length * sums.Length)
        {
            throw new ArgumentException("rows to sum out of range");
        }

        switch (Simd.Widest)
        {
            case VectorWidth.W512:
                SumEach<V512, Vector512<float>>(x, length, sums);
                break;
            case VectorWidth.W256:
                SumEach<V256, Vector256<float>>(x, length, sums);
                break;
            default:
                SumEach<V128, Vector128<float>>(x, length, sums);
                break;
        }
    }

    private static void SumEach<TOps, TVec>(ReadOnlySpan<float> x, int length, Span<float> sums)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct
    {
        int p = 0, whole = length - (length % Lanes);
        for (; p + 1 < sums.Length; p += 2)
        {
            TVec a0 = TOps.Zero, a1 = TOps.Zero, a2 = TOps.Zero, a3 = TOps.Zero;
            TVec b0 = TOps.Zero, b1 = TOps.Zero, b2 = TOps.Zero, b3 = TOps.Zero;
            ReadOnlySpan<float> first = x.Slice(p * length, length), second = x.Slice((p + 1) * length, length);
            Cursor ca = new(first), cb = new(second);
            for (int i = 0; i < whole; i += Lanes)
            {
                AddRow<TOps, TVec>(ca.At(i), ref a0, ref a1, ref a2, ref a3);
                AddRow<TOps, TVec>(cb.At(i), ref b0, ref b1, ref b2, ref b3);
            }

            sums[p] = Finish<TOps, TVec>(first[whole..], a0, a1, a2, a3);
            sums[p + 1] = Finish<TOps, TVec>(second[whole..], b0, b1, b2, b3);
        }

        if (p < sums.Length)
        {
            sums[p] = Sum<TOps, TVec>(x.Slice(p * length, length));
        }
    }

    internal static float Sum<TOps, TVec>(ReadOnlySpan<float> x)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct
    {
        // the 16 lanes as 16 / L registers of L lanes (the JIT drops the branches of other widths)
        TVec a0 = TOps.Zero, a1 = TOps.Zero, a2 = TOps.Zero, a3 = TOps.Zero;
        int whole = x.Length - (x.Length % Lanes);
        var cx = new Cursor(x);
        for (int i = 0; i < whole; i += Lanes)
        {
            AddRow<TOps, TVec>(cx.At(i), ref a0, ref a1, ref a2, ref a3);
        }

        return Finish<TOps, TVec>(x[whole..], a0, a1, a2, a3);
    }

    // the partial last row (fewer than 16 elements, padded with zeros) added, the lanes folded
    private static float Finish<TOps, TVec>(ReadOnlySpan<float> tail, TVec a0, TVec a1, TVec a2, TVec a3)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct
    {
        Span<float> lanes = stackalloc float[Lanes];
        lanes.Clear();
        var row = new Cursor(lanes);
        if (!tail.IsEmpty)
        {
            tail.CopyTo(lanes);
            AddRow<TOps, TVec>(row, ref a0, ref a1, ref a2, ref a3);
        }

        int count = TOps.Count;
        row.Store<TOps, TVec>(a0, 0);
        if (count < Lanes)
        {
            row.Store<TOps, TVec>(a1, count);
        }

        if (count == 4)
        {
            row.Store<TOps, TVec>(a2, 8);
            row.Store<TOps, TVec>(a3, 12);
        }

        return Fold(lanes);
    }

    // lanes l += row[l] for the 16 lanes of one row
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddRow<TOps, TVec>(Cursor row, ref TVec a0, ref TVec a1, ref TVec a2, ref TVec a3)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct
    {
        int count = TOps.Count;
        a0 = TOps.Add(a0, row.Load<TOps, TVec>(0));
        if (count < Lanes)
        {
            a1 = TOps.Add(a1, row.Load<TOps, TVec>(count));
        }

        if (count == 4)
        {
            a2 = TOps.Add(a2, row.Load<TOps, TVec>(8));
            a3 = TOps.Add(a3, row.Load<TOps, TVec>(12));
        }
    }

    // lanes[l] + lanes[l + half] for half = 8, 4, 2, 1
    private static float Fold(Span<float> lanes)
    {
        for (int half = Lanes / 2; half > 0; half /= 2)
        {
            for (int l = 0; l < half; l++)
            {
                lanes[l] += lanes[l + half];
            }
        }

        return lanes[0];
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace CnnCluster.Engine.Kernels;

/// <summary>
/// A pooled delta and what the fused stage's forward kept (pooled values, argmax), from which each sample's conv output
/// delta (K, Ho, Wo) is made just before the conv's backward uses it: the pool's backward into a cleared delta, then the
/// ReLU's mask, i.e. 0 + dpooled[o] at argmax[o] where pooled[o] &gt; 0, and +0 everywhere else.
/// Written densely, window by window: each window's four outputs get the masked delta where the argmax names them and +0
/// elsewhere (8 windows at a time as two 16-float rows where AVX2 is, 4 as two 8-float rows in shorter rows or where only
/// SSE is), so only positions no window covers (a last odd row or column) are cleared first; an argmax outside its own
/// window is refused before anything is written from it.
/// </summary>
internal readonly ref struct PooledDelta(ReadOnlySpan<float> pooled, ReadOnlySpan<float> dpooled, ReadOnlySpan<int> argmax, int channels, int outH, int outW)
{
    private readonly ReadOnlySpan<float> _pooled = pooled, _dpooled = dpooled;
    private readonly ReadOnlySpan<int> _argmax = argmax;

    public bool IsEmpty => _pooled.IsEmpty;

    /// <summary>Sample s's output delta ((K, Ho, Wo) floats) in <paramref name="buffer"/>.</summary>
    public ReadOnlySpan<float> Sample(int s, Span<float> buffer)
    {
        int ph = outH / 2, pw = outW / 2, plane = outH * outW, outSize = channels * plane, perSample = channels * ph * pw;
        buffer = buffer[..outSize];
        if (_argmax.Length < (s + 1) * perSample || _pooled.Length < (s + 1) * perSample || _dpooled.Length < (s + 1) * perSample)
        {
            throw new ArgumentException("pooled values, their delta or argmax shorter than the batch's");
        }

        if (outH % 2 != 0 || outW % 2 != 0)
        {
            buffer.Clear(); // the last odd row or column, which no window covers
        }

        bool eights = Avx2.IsSupported && pw >= 8, fours = !eights && Sse2.IsSupported && pw >= 4;
        var to = new Cursor(buffer);
        var value = new Cursor(_pooled);
        var delta = new Cursor(_dpooled);
        var named = new Cursor(MemoryMarshal.Cast<int, float>(_argmax));
        for (int k = 0; k < channels; k++)
        {
            for (int i = 0; i < ph; i++)
            {
                int o = (s * perSample) + (((k * ph) + i) * pw); // the row's first pooled output
                int corner = (k * plane) + (2 * i * outW);       // its first window's top left in the sample's delta
                int name = (s * outSize) + corner;               // the same as the argmax names it
                int done = 0;
                if (eights)
                {
                    // 8 windows a step; a last partial step covers the row's last 8, overlapping the one before (same values again)
                    for (; done < pw; done += 8)
                    {
                        int j = Math.Min(done, pw - 8);
                        Eight(value.At(o + j), delta.At(o + j), named.At(o + j), to.At(corner + (2 * j)), name + (2 * j), outW);
                    }

                    done = pw;
                }
                else if (fours)
                {
                    // the same 4 windows a step (lenet5's second conv: rows of 5 windows, two steps)
                    for (; done < pw; done += 4)
                    {
                        int j = Math.Min(done, pw - 4);
                        Four(value.At(o + j), delta.At(o + j), named.At(o + j), to.At(corner + (2 * j)), name + (2 * j), outW);
                    }

                    done = pw;
                }

                for (int j = done; j < pw; j++)
                {
                    int at = _argmax[o + j] - (name + (2 * j));
                    if (at != 0 && at != 1 && at != outW && at != outW + 1)
                    {
                        throw new ArgumentException("a pooled window's argmax outside its window");
                    }

                    float d = ReluGrad.Invoke(_pooled[o + j], 0f + _dpooled[o + j]);
                    int c = corner + (2 * j);
                    buffer[c] = at == 0 ? d : 0f;
                    buffer[c + 1] = at == 1 ? d : 0f;
                    buffer[c + outW] = at == outW ? d : 0f;
                    buffer[c + outW + 1] = at == outW + 1 ? d : 0f;
                }
            }
        }

        return buffer;
    }

    // 8 windows of a row: their top rows' 16 outputs from (top-left, top-right) interleaved, the bottom rows' likewise
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Eight(Cursor value, Cursor delta, Cursor named, Cursor to, int name, int outW)
    {
        Vector256<float> d = V256.WherePositive(value.Load<V256, Vector256<float>>(0), Vector256<float>.Zero + delta.Load<V256, Vector256<float>>(0));
        Vector256<int> at = named.Load<V256, Vector256<float>>(0).AsInt32() - (Vector256.Create(name) + Vector256.Create(0, 2, 4, 6, 8, 10, 12, 14));
        Vector256<int> topLeft = Vector256.Equals(at, Vector256<int>.Zero), topRight = Vector256.Equals(at, Vector256.Create(1));
        Vector256<int> bottomLeft = Vector256.Equals(at, Vector256.Create(outW)), bottomRight = Vector256.Equals(at, Vector256.Create(outW + 1));
        if (((topLeft | topRight | bottomLeft | bottomRight) != Vector256<int>.AllBitsSet))
        {
            throw new ArgumentException("a pooled window's argmax outside its window");
        }

        Interleave(d & topLeft.AsSingle(), d & topRight.AsSingle(), to, 0);
        Interleave(d & bottomLeft.AsSingle(), d & bottomRight.AsSingle(), to, outW);
    }

    // 4 windows of a row: as Eight, in 128-bit registers
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Four(Cursor value, Cursor delta, Cursor named, Cursor to, int name, int outW)
    {
        Vector128<float> d = V128.WherePositive(value.Load<V128, Vector128<float>>(0), Vector128<float>.Zero + delta.Load<V128, Vector128<float>>(0));
        Vector128<int> at = named.Load<V128, Vector128<float>>(0).AsInt32() - (Vector128.Create(name) + Vector128.Create(0, 2, 4, 6));
        Vector128<int> topLeft = Vector128.Equals(at, Vector128<int>.Zero), topRight = Vector128.Equals(at, Vector128.Create(1));
        Vector128<int> bottomLeft = Vector128.Equals(at, Vector128.Create(outW)), bottomRight = Vector128.Equals(at, Vector128.Create(outW + 1));
        if (((topLeft | topRight | bottomLeft | bottomRight) != Vector128<int>.AllBitsSet))
        {
            throw new ArgumentException("a pooled window's argmax outside its window");
        }

        Interleave(d & topLeft.AsSingle(), d & topRight.AsSingle(), to, 0);
        Interleave(d & bottomLeft.AsSingle(), d & bottomRight.AsSingle(), to, outW);
    }

    // to[at + 2j] = left[j], to[at + 2j + 1] = right[j] for j < 4
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Interleave(Vector128<float> left, Vector128<float> right, Cursor to, int at)
    {
        to.Store<V128, Vector128<float>>(Sse.UnpackLow(left, right), at);      // l0 r0 l1 r1
        to.Store<V128, Vector128<float>>(Sse.UnpackHigh(left, right), at + 4); // l2 r2 l3 r3
    }

    // to[at + 2j] = left[j], to[at + 2j + 1] = right[j] for j < 8
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Interleave(Vector256<float> left, Vector256<float> right, Cursor to, int at)
    {
        Vector256<float> low = Avx.UnpackLow(left, right), high = Avx.UnpackHigh(left, right); // (l0 r0 l1 r1 | l4 r4 l5 r5), (l2 r2 l3 r3 | l6 r6 l7 r7)
        to.Store<V256, Vector256<float>>(Avx.Permute2x128(low, high, 0x20), at);
        to.Store<V256, Vector256<float>>(Avx.Permute2x128(low, high, 0x31), at + 8);
    }
}

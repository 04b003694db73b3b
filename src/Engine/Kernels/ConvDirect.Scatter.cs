using System.Runtime.Intrinsics;

namespace CnnCluster.Engine.Kernels;

/// <summary>The input delta's last step: each position's patch of the full convolution added into the channels-last image.</summary>
public sealed partial class ConvDirect
{
    /// <summary>
    /// dxcl[corner(pos) + (i, j), :] += dcol[pos - first, i, (j, :)] for the positions first .. first + count (a tile, its
    /// patches from dcol's row 0) and every tap: one kernel row of a patch is
    /// one run of k·C floats in the channels-last image, added in vectors (its padding lanes, zeros, past the window).
    /// Each element takes the positions' terms in order of position, whatever the vectors' width.
    /// </summary>
    private void ScatterPatches(ReadOnlySpan<float> dcol, Span<float> dxcl, int first, int count)
    {
        switch (Simd.Physical(_runWidth))
        {
            case VectorWidth.W512:
                ScatterPatches<V512, Vector512<float>>(dcol, dxcl, first, count);
                break;
            case VectorWidth.W256:
                ScatterPatches<V256, Vector256<float>>(dcol, dxcl, first, count);
                break;
            default:
                ScatterPatches<V128, Vector128<float>>(dcol, dxcl, first, count);
                break;
        }
    }

    private void ScatterPatches<TOps, TVec>(ReadOnlySpan<float> dcol, Span<float> dxcl, int first, int count)
        where TOps : struct, IVectorOps<TVec>
        where TVec : struct
    {
        int lanes = TOps.Count, k = _g.Kernel, c = _g.C;
        if (first < 0 || count < 1 || first + count > _spatial || dcol.Length < count * DeltaRow || dxcl.Length < InputDeltaSize || ((_posBase[_spatial - 1] + ((k - 1) * _wp)) * c) + _runPitch > InputDeltaSize)
        {
            throw new ArgumentException("scatter operands out of range");
        }

        var src0 = new Cursor(dcol);
        var dst0 = new Cursor(dxcl);
        for (int pos = first; pos < first + count; pos++)
        {
            Cursor patch = src0.At((pos - first) * DeltaRow), corner = dst0.At(_posBase[pos] * c);
            for (int i = 0; i < k; i++)
            {
                Cursor dst = corner.At(i * _wp * c), src = patch.At(i * _runPitch);
                for (int v = 0; v < _runPitch; v += lanes)
                {
                    dst.Store<TOps, TVec>(TOps.Add(dst.Load<TOps, TVec>(v), src.Load<TOps, TVec>(v)), v);
                }
            }
        }
    }
}

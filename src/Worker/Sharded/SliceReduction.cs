using CnnCluster.Engine.Training;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Worker.Sharded;

/// <summary>
/// A slice owner's half of the reduce-scatter: every tree node's part of one parameter slice comes in, in
/// any order and possibly twice (a straggler's node computed once more); the parts are pushed into a
/// <see cref="TreeReducer"/> left to right as soon as the prefix is complete, so the slice's sum is
/// added in exactly the order the coordinator's star and the engine alone add it.
/// </summary>
public sealed class SliceReduction
{
    private readonly TreeNode[] _nodes;
    private readonly Dictionary<int, (TreeNode Node, float[] Values, double Loss)> _waiting = new();
    private readonly TreeReducer _reducer;
    private int _next;

    /// <param name="nodes">Every node of the step (a partition of its micro-shards).</param>
    /// <param name="sliceLength">Floats in the slice; the parts' arrays come from (and go back to) the shared pool of that length.</param>
    public SliceReduction(IEnumerable<TreeNode> nodes, int sliceLength)
    {
        _nodes = nodes.OrderBy(n => n.Start).ToArray();
        _reducer = new TreeReducer(GradientBuffers.Shared(sliceLength));
    }

    public bool Complete => _next == _nodes.Length;

    /// <summary>True when <paramref name="node"/>'s part is in (summed, or waiting for the ones before it).</summary>
    public bool Has(TreeNode node) => _waiting.ContainsKey(node.Start) || (IndexOf(node) is int i && i >= 0 && i < _next);

    private int IndexOf(TreeNode node)
    {
        int index = Array.BinarySearch(_nodes, node, Comparer<TreeNode>.Create((a, b) => a.Start.CompareTo(b.Start)));
        return index >= 0 && _nodes[index] == node ? index : -1;
    }

    /// <summary>
    /// Takes one node's part; false when it is not a node of the step, is already in, or the sum is done
    /// (its buffer then goes back to the pool). The pushed buffers belong to the reduction.
    /// </summary>
    public bool Add(TreeNode node, float[] values, double loss)
    {
        int index = IndexOf(node);
        if (index < 0 || index < _next || _waiting.ContainsKey(node.Start) || values.Length != _reducer.Buffers.Length)
        {
            if (values.Length == _reducer.Buffers.Length)
            {
                _reducer.Buffers.Return(values);
            }

            return false;
        }

        _waiting[node.Start] = (node, values, loss);
        while (_next < _nodes.Length && _waiting.Remove(_nodes[_next].Start, out var part))
        {
            _reducer.Push(part.Node.Start, part.Node.Level, part.Values, part.Loss);
            _next++;
        }

        return true;
    }

    /// <summary>The slice of the batch's summed gradient (a pooled buffer; the caller owns it) and the batch's summed loss.</summary>
    public (float[] Sum, double Loss) Finish()
    {
        if (!Complete)
        {
            throw new InvalidOperationException($"{_nodes.Length - _next} node(s) of the slice are not in");
        }

        return _reducer.Finish();
    }

    /// <summary>Gives back the buffers of an abandoned step.</summary>
    public void Abandon()
    {
        foreach ((TreeNode _, float[] values, double _) in _waiting.Values)
        {
            _reducer.Buffers.Return(values);
        }

        _waiting.Clear();
    }
}

namespace CnnCluster.Engine.Training;

/// <summary>
/// Sums gradients along the fixed binary reduction tree over micro-shard indices (DESIGN §4).
/// The tree has leaves 0..M-1; node (level L, index k) covers [k·2^L, (k+1)·2^L) and its value is
/// left + right, or just left when the right child lies beyond M. Nodes are pushed left to right
/// (leaves, or whole aligned sub-trees computed elsewhere); siblings are merged as soon as both are
/// there, and <see cref="Finish"/> folds what is left from the right. Any split of the leaves into
/// aligned blocks therefore gives bit-identical sums. Loss sums (double) follow the same tree.
/// </summary>
public sealed class TreeReducer
{
    private readonly List<Node> _stack = new();

    public TreeReducer(GradientBuffers buffers)
    {
        Buffers = buffers;
    }

    /// <summary>Where node buffers come from and go back to; merged-away buffers are returned here.</summary>
    public GradientBuffers Buffers { get; }

    /// <summary>Pushes the node covering [start, start + 2^level) ∩ [0, M); start must be aligned to 2^level.</summary>
    public void Push(int start, int level, float[] value, double loss)
    {
        if ((start & ((1 << level) - 1)) != 0)
        {
            throw new ArgumentException($"node start {start} is not aligned to level {level}");
        }

        var node = new Node(start, level, value, loss);
        while (_stack.Count > 0)
        {
            Node left = _stack[^1];
            bool siblings = left.Level == node.Level && (left.Start >> left.Level) % 2 == 0 && left.Start + (1 << left.Level) == node.Start;
            if (!siblings)
            {
                break;
            }

            _stack.RemoveAt(_stack.Count - 1);
            node = Merge(left, node, left.Level + 1);
        }

        _stack.Add(node);
    }

    /// <summary>
    /// Completes the tree over what was pushed: the remaining nodes are right-edge parts whose siblings
    /// are absent (beyond M), so they fold right to left. Returns the root value and loss; the caller owns
    /// the buffer and gives it back to <see cref="Buffers"/>.
    /// </summary>
    public (float[] Value, double Loss) Finish()
    {
        if (_stack.Count == 0)
        {
            throw new InvalidOperationException("nothing was pushed");
        }

        Node acc = _stack[^1];
        for (int i = _stack.Count - 2; i >= 0; i--)
        {
            acc = Merge(_stack[i], acc, _stack[i].Level + 1);
        }

        _stack.Clear();
        return (acc.Value, acc.Loss);
    }

    // left += right: the only place gradients are added, so every path sums in the same order
    private Node Merge(Node left, Node right, int level)
    {
        float[] l = left.Value, r = right.Value;
        System.Numerics.Tensors.TensorPrimitives.Add(l, r, l);
        Buffers.Return(r);
        return new Node(left.Start, level, l, left.Loss + right.Loss);
    }

    private readonly record struct Node(int Start, int Level, float[] Value, double Loss);
}

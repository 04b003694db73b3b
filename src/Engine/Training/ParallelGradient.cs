using CnnCluster.Engine.Data;
using CnnCluster.Engine.Models;

namespace CnnCluster.Engine.Training;

/// <summary>
/// Gradients on T threads of this process: a block of the reduction tree (or the whole batch, the root
/// block) is cut into aligned sub-blocks (about 2T of them), threads take sub-blocks as they free up,
/// and the sub-block sums are combined along the same tree. Which thread computed which sub-block
/// cannot change a bit of the result.
/// </summary>
public sealed class ParallelGradient
{
    private readonly BlockGradient[] _perThread;
    private readonly TreeReducer _root;
    private readonly int _threads;

    public ParallelGradient(Network network, int shardSize, int threads)
    {
        if (shardSize < 1 || threads < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(threads), "shard size and threads must be positive");
        }

        ShardSize = shardSize;
        _threads = threads;
        var buffers = GradientBuffers.Shared(network.ParameterCount);
        _perThread = Enumerable.Range(0, threads).Select(_ => new BlockGradient(network, shardSize, buffers)).ToArray();
        _root = new TreeReducer(buffers);
    }

    public int ShardSize { get; }

    /// <summary>Σ over the batch of ∂loss/∂p (a buffer of the shared pool, the caller returns it) and Σ loss.</summary>
    public (float[] Gradient, double Loss) Compute(float[] parameters, LabeledImages data, ArraySegment<int> batch)
    {
        var plan = new ShardPlan(batch.Count, ShardSize);
        return ComputeBlock(parameters, data, batch, plan, plan.LevelFor(1), 0);
    }

    /// <summary>The sum of block (level, block) of the batch's tree (a buffer of the shared pool) and its Σ loss.</summary>
    public (float[] Gradient, double Loss) ComputeBlock(float[] parameters, LabeledImages data, ArraySegment<int> batch, ShardPlan plan, int level, int block)
    {
        (int firstShard, int shards) = plan.Block(level, block);

        // sub-blocks of the block: the same tree, one level of granularity for the threads
        int subLevel = 0;
        while (subLevel < level && ((shards + (1 << subLevel) - 1) >> subLevel) > (_threads == 1 ? 1 : 2 * _threads))
        {
            subLevel++;
        }

        int firstSub = firstShard >> subLevel;
        int subBlocks = (shards + (1 << subLevel) - 1) >> subLevel;
        var results = new (float[] Gradient, double Loss)[subBlocks];
        int next = -1;

        void Run(int t)
        {
            BlockGradient worker = _perThread[t];
            int b;
            while ((b = Interlocked.Increment(ref next)) < subBlocks)
            {
                results[b] = worker.Compute(parameters, data, batch, plan, subLevel, firstSub + b);
            }
        }

        if (_threads == 1 || subBlocks == 1)
        {
            Run(0);
        }
        else
        {
            Parallel.For(0, Math.Min(_threads, subBlocks), new ParallelOptions { MaxDegreeOfParallelism = _threads }, Run);
        }

        for (int b = 0; b < subBlocks; b++)
        {
            _root.Push((firstSub + b) << subLevel, subLevel, results[b].Gradient, results[b].Loss);
        }

        return _root.Finish();
    }
}

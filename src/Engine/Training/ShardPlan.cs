namespace CnnCluster.Engine.Training;

/// <summary>
/// How a minibatch of B samples is cut: micro-shards of S samples (the last may be shorter), numbered
/// 0..M-1, and aligned blocks of 2^level micro-shards that a thread or a worker computes and pre-reduces.
/// </summary>
public readonly record struct ShardPlan(int BatchSize, int ShardSize)
{
    public int MicroShards => (BatchSize + ShardSize - 1) / ShardSize;

    /// <summary>Samples [First, First + Count) of the batch belong to micro-shard <paramref name="index"/>.</summary>
    public (int First, int Count) Shard(int index)
    {
        int first = index * ShardSize;
        return (first, Math.Min(ShardSize, BatchSize - first));
    }

    /// <summary>The smallest block level that cuts the micro-shards into at most <paramref name="blocks"/> blocks.</summary>
    public int LevelFor(int blocks)
    {
        int level = 0;
        while (BlockCount(level) > Math.Max(1, blocks))
        {
            level++;
        }

        return level;
    }

    public int BlockCount(int level) => (MicroShards + (1 << level) - 1) >> level;

    /// <summary>Micro-shards [First, First + Count) of block <paramref name="block"/> at <paramref name="level"/>.</summary>
    public (int First, int Count) Block(int level, int block)
    {
        int first = block << level;
        return (first, Math.Min(1 << level, MicroShards - first));
    }
}

using CnnCluster.Engine.Data;
using CnnCluster.Engine.Layers;
using CnnCluster.Engine.Models;

namespace CnnCluster.Engine.Training;

/// <summary>
/// Computes one aligned block of the reduction tree on one thread: the gradient of every micro-shard in
/// the block, summed in tree order. This is the unit of work of a worker (DESIGN §4); a micro-shard's
/// gradient is a pure function of (parameters, samples), so the block is too.
/// </summary>
public sealed class BlockGradient
{
    private readonly Workspace _workspace;
    private readonly TreeReducer _reducer;

    public BlockGradient(Network network, int shardSize, GradientBuffers buffers)
    {
        _workspace = new Workspace(network, shardSize);
        _reducer = new TreeReducer(buffers);
    }

    /// <summary>
    /// Block (level, block) of the batch <paramref name="batch"/> (sample indices into <paramref name="data"/>).
    /// <paramref name="pass"/> is the step's (augmentation and dropout draw from it).
    /// Returns the block's summed gradient (a rented buffer, to be returned to the pool) and its summed loss.
    /// </summary>
    public (float[] Gradient, double Loss) Compute(ReadOnlySpan<float> parameters, LabeledImages data, ReadOnlySpan<int> batch, ShardPlan plan, int level, int block, PassContext pass)
    {
        (int firstShard, int shards) = plan.Block(level, block);
        for (int m = firstShard; m < firstShard + shards; m++)
        {
            (int first, int count) = plan.Shard(m);
            _workspace.Load(data, batch.Slice(first, count), pass);
            float[] g = _reducer.Buffers.Rent();
            double loss = _workspace.ForwardBackward(parameters, g, count);
            _reducer.Push(m, 0, g, loss);
        }

        return _reducer.Finish();
    }
}

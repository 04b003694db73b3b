using CnnCluster.Engine.Data;
using CnnCluster.Engine.Models;

namespace CnnCluster.Engine.Training;

/// <summary>
/// The whole-batch gradient on T threads of this process: the batch's micro-shards are cut into aligned
/// blocks (about 2T of them), threads take blocks as they free up, and the block sums are combined along
/// the same tree. Which thread computed which block cannot change a bit of the result.
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
        var buffers = new GradientBuffers(network.ParameterCount);
        _perThread = Enumerable.Range(0, threads).Select(_ => new BlockGradient(network, shardSize, buffers)).ToArray();
        _root = new TreeReducer(buffers);
    }

    public int ShardSize { get; }

    /// <summary>Writes Σ over the batch of ∂loss/∂p into <paramref name="gradient"/>; returns Σ loss.</summary>
    public double Compute(float[] parameters, LabeledImages data, ArraySegment<int> batch, float[] gradient)
    {
        var plan = new ShardPlan(batch.Count, ShardSize);
        int level = plan.LevelFor(_threads == 1 ? 1 : 2 * _threads);
        int blocks = plan.BlockCount(level);
        var results = new (float[] Gradient, double Loss)[blocks];
        int next = -1;

        void Run(int t)
        {
            BlockGradient worker = _perThread[t];
            int b;
            while ((b = Interlocked.Increment(ref next)) < blocks)
            {
                results[b] = worker.Compute(parameters, data, batch, plan, level, b);
            }
        }

        if (_threads == 1 || blocks == 1)
        {
            Run(0);
        }
        else
        {
            Parallel.For(0, Math.Min(_threads, blocks), new ParallelOptions { MaxDegreeOfParallelism = _threads }, Run);
        }

        for (int b = 0; b < blocks; b++)
        {
            _root.Push(b << level, level, results[b].Gradient, results[b].Loss);
        }

        (float[] sum, double total) = _root.Finish();
        Array.Copy(sum, gradient, gradient.Length);
        _root.Buffers.Return(sum);
        return total;
    }
}

using CnnCluster.Engine.Training;

namespace CnnCluster.Bench.Engine;

/// <summary>The minibatches of <see cref="TrainingSession"/> (epoch permutation of the seed, then consecutive slices), for the torch side.</summary>
public sealed class BatchOrder(ulong seed, int samples, int batchSize)
{
    private readonly int _stepsPerEpoch = (samples + batchSize - 1) / batchSize;
    private int[] _order = [];
    private int _epoch = -1;

    public int[] For(long step)
    {
        int epoch = (int)(step / _stepsPerEpoch);
        if (epoch != _epoch)
        {
            _order = EpochOrder.For(seed, epoch, samples);
            _epoch = epoch;
        }

        int first = (int)(step % _stepsPerEpoch) * batchSize;
        return _order[first..Math.Min(first + batchSize, samples)];
    }
}

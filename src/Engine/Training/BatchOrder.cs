namespace CnnCluster.Engine.Training;

/// <summary>
/// The minibatch of every step (DESIGN §4): the epoch's permutation of (seed, epoch), cut into
/// consecutive batches; the last of an epoch may be shorter. The permutation is kept for its epoch.
/// </summary>
public sealed class BatchOrder(ulong seed, int samples, int batchSize)
{
    private readonly int _stepsPerEpoch = (samples + batchSize - 1) / batchSize;
    private int[] _order = [];
    private int _epoch = -1;

    /// <summary>The size of step <paramref name="step"/>'s minibatch (an epoch's last may be smaller), without drawing its order.</summary>
    public int SizeOf(long step) => Math.Min(batchSize, samples - ((int)(step % _stepsPerEpoch) * batchSize));

    /// <summary>The sample indices of step <paramref name="step"/> (0-based), valid until the next epoch's call.</summary>
    public ArraySegment<int> For(long step)
    {
        int epoch = (int)(step / _stepsPerEpoch);
        if (epoch != _epoch)
        {
            _order = EpochOrder.For(seed, epoch, samples);
            _epoch = epoch;
        }

        int first = (int)(step % _stepsPerEpoch) * batchSize;
        return new ArraySegment<int>(_order, first, Math.Min(batchSize, samples - first));
    }
}

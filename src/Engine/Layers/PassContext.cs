namespace CnnCluster.Engine.Layers;

/// <summary>
/// What the stochastic parts of one forward/backward pass draw from, besides each sample's global index
/// (its index in the data set): the run's seed, the step, its epoch, training or evaluation, augmentation
/// on or off. A workspace holds the pass of the samples it loaded; <c>default</c> is evaluation, where
/// nothing is random.
/// </summary>
public readonly record struct PassContext(ulong Seed, long Step, int Epoch, bool Training, bool Augment)
{
    public static PassContext Evaluation => default;

    public static PassContext ForTraining(ulong seed, long step, int epoch, bool augment) => new(seed, step, epoch, Training: true, augment);
}

namespace CnnCluster.Coordinator.Runs.Steps;

/// <summary>
/// The last steps after which a sharded run asked member 0 for its replica's state (a capture): a state of any other
/// step was sent of a member's own accord. A few are kept, as a state asked in one generation of a step may come after
/// the next generation's plan, which need not ask again. Pure.
/// </summary>
public sealed class StatesAsked
{
    private const int Kept = 8;
    private readonly Queue<long> _steps = new();

    public void Asked(long step)
    {
        if (_steps.Contains(step))
        {
            return;
        }

        if (_steps.Count == Kept)
        {
            _steps.Dequeue();
        }

        _steps.Enqueue(step);
    }

    public bool Contains(long step) => _steps.Contains(step);
}

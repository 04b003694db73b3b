using CnnCluster.Engine.Training;

namespace CnnCluster.Worker.Sharded;

/// <summary>
/// A replica's state at the start of the last <c>count</c> steps it began. A step that a lost member cut short runs
/// again, by a new generation, from its start, also where this replica had committed it; with plans sent
/// <see cref="Shared.Protocol.StepPlan.PlansAhead"/> steps ahead it may have committed that step and begun as many
/// after it, so that many starts and one more are kept (the coordinator plans no further past what it counted).
/// </summary>
internal sealed class StepStarts
{
    private readonly Slot[] _slots;

    public StepStarts(int parameterCount, int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        _slots = Enumerable.Range(0, count).Select(_ => new Slot(parameterCount)).ToArray();
    }

    /// <summary>The state after step <paramref name="step"/> (the start of step + 1), if one was kept.</summary>
    public SessionState? After(long step) =>
        _slots.FirstOrDefault(s => s.Step == step) is { } slot ? new SessionState(step, slot.Parameters, slot.Velocity, 0, 0, 0, 0) : null;

    /// <summary>The replica went back to the state after <paramref name="step"/>: later states kept are of steps it will compute again.</summary>
    public void ForgetAfter(long step)
    {
        foreach (Slot slot in _slots.Where(s => s.Step > step))
        {
            slot.Step = -1;
        }
    }

    /// <summary>Keeps a copy of the state after <paramref name="step"/>, in place of the oldest one kept (unless it is kept already).</summary>
    public void Keep(long step, ReadOnlySpan<float> parameters, ReadOnlySpan<float> velocity)
    {
        if (_slots.Any(s => s.Step == step))
        {
            return;
        }

        Slot oldest = _slots.MinBy(s => s.Step)!;
        parameters.CopyTo(oldest.Parameters);
        velocity.CopyTo(oldest.Velocity);
        oldest.Step = step;
    }

    private sealed class Slot(int parameterCount)
    {
        public long Step { get; set; } = -1;

        public float[] Parameters { get; } = new float[parameterCount];

        public float[] Velocity { get; } = new float[parameterCount];
    }
}

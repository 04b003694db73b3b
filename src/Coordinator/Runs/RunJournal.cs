using System.Diagnostics;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Runs;

/// <summary>
/// What a run writes to its journal, off the step's path: committed steps in groups (one
/// <see cref="StepsRecorded"/> of up to <see cref="Batch"/> steps, or what a tick finds), every other
/// event after the steps before it, and nothing for a step or epoch recomputed after a restart (the
/// journal has it: it is checked against it instead, <see cref="RecomputeCheck"/>). An event counts once
/// the journal has it (<paramref name="recorded"/>); a crash loses at most the unjournaled tail, which
/// is recomputed from the last snapshot like any step after it. The actor passes its persist.
/// </summary>
public sealed class RunJournal(Action<IRunEvent, Action<IRunEvent>> persistAsync, Action<IRunEvent> recorded, StepPhaseLog phases)
{
    /// <summary>Steps journaled as one event (at most; a tick flushes fewer).</summary>
    public const int Batch = 32;

    private readonly List<StepRecorded> _unjournaled = new();
    private RecomputeCheck _check = RecomputeCheck.None;

    /// <summary>True when every step committed is in the journal (or on its way to it).</summary>
    public bool Idle => _unjournaled.Count == 0;

    /// <summary>The run was restored to an earlier step: these later steps and epochs are recomputed and checked.</summary>
    public void Rewound(RecomputeCheck check) => _check = check;

    /// <summary>A committed step: journaled with the next group; for a recomputed one, its problem when it differs from the journal.</summary>
    public string? Step(StepRecorded step)
    {
        if (_check.Recomputes(step.Step))
        {
            if (_check.Problem(step.Step, step.ParamSha256) is string problem)
            {
                return problem;
            }

            recorded(step);
            return null;
        }

        _unjournaled.Add(step);
        if (_unjournaled.Count >= Batch)
        {
            Flush();
        }

        return null;
    }

    /// <summary>An epoch's metrics (recorded at once when recomputed: the journal has them).</summary>
    public void Epoch(EpochRecorded epoch)
    {
        if (_check.EpochSteps.Contains(epoch.Step))
        {
            recorded(epoch);
        }
        else
        {
            Event(epoch);
        }
    }

    /// <summary>Journals the buffered steps (in order, before anything journaled after them).</summary>
    public void Flush()
    {
        if (_unjournaled.Count == 0)
        {
            return;
        }

        long start = Stopwatch.GetTimestamp();
        var group = new StepsRecorded(_unjournaled.ToArray());
        _unjournaled.Clear();
        persistAsync(group, g =>
        {
            phases.AddSince(StepPhase.Journal, start);
            recorded(g);
        });
    }

    /// <summary>Journals an event after the buffered steps; it counts once the journal has it.</summary>
    public void Event(IRunEvent e)
    {
        Flush();
        persistAsync(e, recorded);
    }
}

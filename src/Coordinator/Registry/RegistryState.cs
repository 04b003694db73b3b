using System.Collections.Immutable;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Registry;

/// <summary>
/// The run registry's journaled state as one immutable value: every run registered, and how each ended
/// (if it did and was not resumed since). <see cref="Updated"/> is the one transition function, used by
/// recovery and by live persist callbacks alike, and it runs only once the journal has the event.
/// </summary>
public sealed record RegistryState
{
    public static RegistryState Empty { get; } = new();

    /// <summary>Every run, by id in ordinal order.</summary>
    public ImmutableSortedDictionary<string, RunRegistered> Runs { get; init; } = ImmutableSortedDictionary.Create<string, RunRegistered>(StringComparer.Ordinal);

    /// <summary>How the runs that ended ended (a resumed run is not here until it ends again).</summary>
    public ImmutableDictionary<string, RunClosed> Ends { get; init; } = ImmutableDictionary<string, RunClosed>.Empty;

    public RegistryState Updated(IRegistryEvent e) => e switch
    {
        RunRegistered r => this with { Runs = Runs.SetItem(r.RunId, r) },
        RunClosed c => this with { Ends = Ends.SetItem(c.RunId, c) },
        RunResumed r => this with { Ends = Ends.Remove(r.RunId) },
        _ => throw new ArgumentException($"{e.GetType().Name} has no transition in the registry's state"),
    };

    public bool Knows(string runId) => Runs.ContainsKey(runId);

    public bool Ended(string runId) => Ends.ContainsKey(runId);

    /// <summary>The runs that have not ended: a registry that resumes unfinished runs starts these.</summary>
    public IEnumerable<RunRegistered> Unfinished => Runs.Values.Where(r => !Ends.ContainsKey(r.RunId));

    /// <summary>A run's phase as the registry knows it: how it ended, else running (or paused, which only the live registry knows).</summary>
    public RunPhase PhaseOf(string runId, bool paused) => paused ? RunPhase.Paused : Ends.TryGetValue(runId, out RunClosed? end) ? end.Outcome.Phase() : RunPhase.Running;

    /// <summary>Why a run cannot be resumed, or null.</summary>
    public string? ResumeRefusal(string id, bool paused) =>
        !Runs.ContainsKey(id) ? $"no run '{id}'; known runs: {KnownRuns}"
        : !Ends.TryGetValue(id, out RunClosed? end) ? $"run '{id}' has not ended ({(paused ? "paused: it resumes by itself when its store works" : "running")}): nothing to resume"
        : end.Outcome == RunOutcome.Completed ? $"run '{id}' completed: nothing to resume (to train on from it, start a new run with --fork {id}:SEQ)"
        : null;

    /// <summary>The runs' ids for a message that names the choices.</summary>
    public string KnownRuns => Runs.Count == 0 ? "none" : string.Join(", ", Runs.Keys);

    /// <summary>The runs by phase for the metrics (the common ones always, 0 included, so a gauge falls to 0 rather than vanishing).</summary>
    public IReadOnlyDictionary<string, int> CountByPhase(Func<string, bool> paused)
    {
        var byPhase = new[] { RunPhase.Running, RunPhase.Paused, RunPhase.Completed, RunPhase.Stopped, RunPhase.Failed }.ToDictionary(p => p.ToWire(), _ => 0);
        foreach (string id in Runs.Keys)
        {
            string phase = PhaseOf(id, paused(id)).ToWire();
            byPhase[phase] = byPhase.GetValueOrDefault(phase) + 1;
        }

        return byPhase;
    }

    public RunListEntry Entry(RunRegistered r, bool paused)
    {
        RunClosed? end = Ends.GetValueOrDefault(r.RunId);
        return new RunListEntry(r.RunId, r.Config.Model, PhaseOf(r.RunId, paused).ToWire(), r.ForkedFrom, end?.Step, end?.TestAccuracy, r.Submitted);
    }
}

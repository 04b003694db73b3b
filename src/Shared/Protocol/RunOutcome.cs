namespace CnnCluster.Shared.Protocol;

/// <summary>How a run ended. Journals and clients carry it as a word (<see cref="RunOutcomes.ToWire"/>), read back in one place.</summary>
public enum RunOutcome
{
    Completed,
    Stopped,
    Failed,
}

/// <summary>Where a run is, as its actor behaves and as `pbm train status` shows it (<see cref="RunOutcomes.ToWire(RunPhase)"/>).</summary>
public enum RunPhase
{
    /// <summary>Recovering its journal and loading its snapshot.</summary>
    Starting,

    /// <summary>Computing steps.</summary>
    Running,

    /// <summary>Nothing to compute with: no worker, or all of them lost mid-step.</summary>
    Waiting,

    /// <summary>Its store failed (disk full, read-only, unreachable): it comes back by itself when the store works.</summary>
    Paused,

    Completed,
    Stopped,
    Failed,
}

/// <summary>The words for outcomes and phases on the wire and in journals, and back: the only place they are spelled.</summary>
public static class RunOutcomes
{
    public static string ToWire(this RunOutcome outcome) => outcome switch
    {
        RunOutcome.Completed => "completed",
        RunOutcome.Stopped => "stopped",
        _ => "failed",
    };

    /// <summary>An ended run's word in a journal (anything but completed or stopped was a failure).</summary>
    public static RunOutcome ParseOutcome(string word) => word switch
    {
        "completed" => RunOutcome.Completed,
        "stopped" => RunOutcome.Stopped,
        _ => RunOutcome.Failed,
    };

    public static RunPhase Phase(this RunOutcome outcome) => outcome switch
    {
        RunOutcome.Completed => RunPhase.Completed,
        RunOutcome.Stopped => RunPhase.Stopped,
        _ => RunPhase.Failed,
    };

    public static string ToWire(this RunPhase phase) => phase.ToString().ToLowerInvariant();

    /// <summary>A status word as a phase; null for a word no phase has (an ended run's "ended" from an old registry).</summary>
    public static RunPhase? ParsePhase(string word) => Enum.TryParse(word, ignoreCase: true, out RunPhase phase) && word == phase.ToWire() ? phase : null;

    /// <summary>A run that still does (or will again by itself) compute: running, waiting or paused.</summary>
    public static bool IsLive(this RunPhase phase) => phase is RunPhase.Starting or RunPhase.Running or RunPhase.Waiting or RunPhase.Paused;
}

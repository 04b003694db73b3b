using Akka.Actor;
using Akka.Persistence;
using CnnCluster.Coordinator.Cluster;
using CnnCluster.Coordinator.Persistence;
using CnnCluster.Coordinator.Runs;
using CnnCluster.Engine.Data;
using CnnCluster.Engine.Models;
using CnnCluster.Shared.Naming;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Registry;

/// <summary>
/// What the registry checks before a run is journaled: its name, its configuration, its model and data,
/// and for a fork the snapshot it starts from. Each answer is one line for the client; nothing throws.
/// </summary>
public static class RunAdmission
{
    /// <summary>Why a new run cannot be accepted, or null (and its id).</summary>
    public static string? Refusal(string? requested, RunConfig? config, RegistryState state, string? dataDirectory, out string id)
    {
        if (config is null)
        {
            id = RunIds.Printable(requested);
            return "the run has no configuration";
        }

        if (RunConfigRules.Problem(config) is string outside)
        {
            id = RunIds.Printable(requested);
            return outside;
        }

        id = requested ?? RunIds.Default(config.Model);
        if (RunIds.Problem(id) is string invalid)
        {
            id = RunIds.Printable(id);
            return invalid;
        }

        if (state.Knows(id))
        {
            return $"a run named '{id}' exists already (resume it, or pick another name)";
        }

        try
        {
            ModelBudget.CheckShard(Network.Build(ModelSpecJson.Parse(config.ModelJson)).Spec, config.ShardSize);
            config.ToTrainingOptions(1);
            RunData.For(dataDirectory, config.DataLimit);
            return null;
        }
        catch (Exception e) when (e is ModelSpecException or DatasetException or FormatException or ArgumentException)
        {
            return e.Message;
        }
    }

    /// <summary>Loads the snapshot a fork asks for straight from the snapshot store (its answer, for <see cref="ForkSource"/>).</summary>
    public static Task<object> LoadForkSource(Akka.Actor.ActorSystem system, ForkRun fork)
    {
        Akka.Actor.IActorRef store = Akka.Persistence.Persistence.Instance.Apply(system).SnapshotStoreFor(null);
        var criteria = new SnapshotSelectionCriteria(fork.SnapshotSequenceNr, DateTime.MaxValue, fork.SnapshotSequenceNr, DateTime.MinValue);
        return store.Ask<object>(new LoadSnapshot("run-" + fork.SourceRunId, criteria, fork.SnapshotSequenceNr), TimeSpan.FromSeconds(60));
    }

    /// <summary>
    /// The snapshot a fork starts from, out of what the store answered (<paramref name="loaded"/>: a
    /// <see cref="LoadSnapshotResult"/>, a <see cref="LoadSnapshotFailed"/> or an exception), or why it cannot.
    /// The store answers with the newest snapshot at or below the number: only that very one is taken.
    /// </summary>
    public static RunSnapshot? ForkSource(ForkRun fork, object? loaded, RegistryState state, out string? problem)
    {
        SelectedSnapshot? selected = (loaded as LoadSnapshotResult)?.Snapshot;
        RunSnapshot? snapshot = selected?.Metadata.SequenceNr == fork.SnapshotSequenceNr ? selected.Snapshot as RunSnapshot : null;
        string which = $"snapshot {fork.SnapshotSequenceNr} of run '{fork.SourceRunId}'";
        problem = loaded switch
        {
            Exception e => $"cannot load {which}: {e.Message}",
            LoadSnapshotFailed failed => $"cannot load {which}: {failed.Cause.Message}",
            _ when snapshot is null => $"run '{fork.SourceRunId}' has no snapshot {fork.SnapshotSequenceNr} (it keeps its newest {state.Runs[fork.SourceRunId].Config.KeepSnapshots})",
            _ => SnapshotChecksum.Problem(fork.SourceRunId, snapshot, Network.Build(ModelSpecJson.Parse(fork.Config.ModelJson)).ParameterCount) is string p
                ? $"{which} cannot start this model: {p}"
                : null,
        };
        problem ??= state.Knows(fork.RunId!) ? $"a run named '{fork.RunId}' exists already" : null;
        return problem is null ? snapshot : null;
    }
}

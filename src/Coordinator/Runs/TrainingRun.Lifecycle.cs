using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using CnnCluster.Coordinator.Cluster;
using CnnCluster.Coordinator.Persistence;
using CnnCluster.Coordinator.Runs.Steps;
using CnnCluster.Coordinator.Runs.Workers;
using CnnCluster.Shared.DataPlane;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Runs;

/// <summary>A run's start (restore, continue), pause (its store failed) and end (complete, fail, stop, resume).</summary>
public sealed partial class TrainingRun
{
    /// <summary>
    /// A child loads the newest good snapshot among <paramref name="candidates"/> (newest first); the unusable
    /// ones on the way are journaled (the journal still checks every recomputed step), then the run continues.
    /// </summary>
    private void Restoring(IReadOnlyList<long> candidates)
    {
        if (candidates.Count == 0)
        {
            Continue();
            return;
        }

        Context.ActorOf(SnapshotRestorer.Props(PersistenceId, RunId, _session.Network.ParameterCount, candidates), "restore");
        Become(() =>
        {
            Command<SnapshotRestorer.Restored>(restored =>
            {
                if (restored.Snapshot is { } snapshot)
                {
                    _session.Restore(SnapshotChecksum.State(snapshot));
                    _snapshots.Restored(snapshot.Step);
                }

                int left = restored.Rejected.Count;
                foreach (SnapshotRejected r in restored.Rejected)
                {
                    _log.Error("run {0}: snapshot {1} is unusable ({2}); falling back to the one before it", RunId, r.SequenceNr, r.Reason);
                }

                PersistAll(restored.Rejected, e =>
                {
                    _state = _state.Updated(e);
                    if (--left == 0)
                    {
                        Continue();
                    }
                });
                if (left == 0)
                {
                    Continue();
                }
            });
            Command<SnapshotRestorer.RestoreUnavailable>(f =>
            {
                // the store failed (e.g. the database is away), not the snapshot: try again later
                _log.Warning("run {0}: cannot load snapshot {1} now ({2}); retrying after a backoff", RunId, f.SequenceNr, f.Cause.Message);
                Context.Stop(Self);
            });
            CommandAny(_ => Stash.Stash());
        });
    }

    /// <summary>After recovery and restore: record the start, tell subscribers the history, and go on.</summary>
    private void Continue()
    {
        // steps after the restored one will be recomputed and checked against the journal's hashes
        (_state, RecomputeCheck check) = _state.RewoundTo(_session.Step);
        _journal.Rewound(check);
        _execution = StepExecutions.For(_steps);
        Become(Running);
        Stash.UnstashAll();

        if (!_state.Started)
        {
            if (_run.Origin.Parameters is { } forked)
            {
                _session.StartFrom(forked);
            }

            Persist(new RunStarted(RunId, _run.Config, _run.Origin.ForkedFrom, _run.Origin.ForkedFromSnapshot), e => _state = _state.Updated(e));
            if (_run.Origin.Parameters is not null)
            {
                _snapshots.Take(); // a fork does not depend on its source's snapshots staying around
            }
        }
        else if (_state.ForkedFrom is not null && _snapshots.NothingRestored)
        {
            // a fork restarts from its own first snapshot; without one, its start is known only to this incarnation
            if (_run.Origin.Parameters is not { } forked)
            {
                Fail($"the fork's starting parameters (run {_state.ForkedFrom}) were never stored; fork it again", RunFailure.Error);
                return;
            }

            _session.StartFrom(forked);
            _snapshots.Take();
        }
        else if (_state.EndJournaled)
        {
            _log.Warning("run {0}: completed but its last snapshot was unusable: restored at step {1}; recomputing the rest", RunId, _session.Step);
        }
        else if (_session.Step > 0)
        {
            _log.Info("run {0}: resumed at step {1} of {2}", RunId, _session.Step, _session.TotalSteps);
        }

        foreach (IActorRef s in _subscribers.All)
        {
            SendHistory(s);
        }

        if (_state.Ended is { } ended)
        {
            // the registry may have missed it (a crash between the two journals)
            Context.Parent.Tell(new RunEndedNotice(RunId, ended.Outcome, ended.Step, _state.LastAccuracy));
            Become(Ended);
            return;
        }

        _run.Directory.Tell(new SubscribeWorkers(Self));
        Timers.StartPeriodicTimer("tick", TickMessage.Instance, Tick);
    }

    private void StoreWorks()
    {
        if (!_storeWorks)
        {
            _storeWorks = true;
            Context.Parent.Tell(new RunStoreWorks(RunId));
        }
    }

    // ---------------------------------------------------------------- pausing

    // a failing store stops this actor (Akka Persistence's rule); its backoff supervisor starts it again,
    // and it recovers once the store works. Until then the registry answers for it: paused, with why.
    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
    {
        Paused(cause);
        base.OnPersistFailure(cause, @event, sequenceNr);
    }

    protected override void OnPersistRejected(Exception cause, object @event, long sequenceNr)
    {
        Paused(cause);
        base.OnPersistRejected(cause, @event, sequenceNr);
    }

    protected override void OnRecoveryFailure(Exception reason, object? message = null)
    {
        Paused(reason);
        base.OnRecoveryFailure(reason, message);
    }

    private void Paused(Exception cause)
    {
        string reason = StoreFailure.Describe(cause);
        _log.Error("run {0} paused at step {1}: {2}; it resumes by itself when the store works again", RunId, _session.Step, reason);
        _subscribers.Publish(new RunWaiting(RunId, _session.Step, $"paused: {reason}; it resumes by itself when the store works again"));
        Context.Parent.Tell(new RunPaused(RunId, Status(RunPhase.Paused) with { Reason = reason }));
    }

    private void OnSnapshotFailed(SaveSnapshotFailure f)
    {
        if (StoreFailure.Classify(f.Cause) is StoreFailureKind.DiskFull or StoreFailureKind.ReadOnly)
        {
            // every later snapshot would fail too, and the run would go on with nothing to resume from
            // (a fast run did, to its end): pause as for a failed journal write, resume when there is room
            Paused(f.Cause);
            Context.Stop(Self);
            return;
        }

        if (_snapshots.SavingStep is long step)
        {
            _log.Warning("run {0}: snapshot at step {1} not saved ({2}); the next one is due in {3} steps", RunId, step, f.Cause.Message, _run.Config.SnapshotEvery);
            _snapshots.Failed();
        }
    }

    // ---------------------------------------------------------------- ending

    private void Finish()
    {
        _snapshots.Take();
        End(new RunEnded(RunOutcome.Completed, _session.Step, CurrentHash(), null), journal: !_state.EndJournaled, then: () => _subscribers.Publish(Finished()));
    }

    private void Fail(string reason, RunFailure failure) =>
        End(new RunEnded(RunOutcome.Failed, _session.Step, null, reason), journal: true, then: () => _subscribers.Publish(new RunFailed(RunId, _session.Step, reason, RunOutcome.Failed, failure)));

    /// <summary>Ends the run for good where it is: a snapshot of the state, then the end in the journal.</summary>
    private void Stop()
    {
        IActorRef replyTo = Sender;
        _snapshots.Take();
        const string reason = "stopped by a user";
        End(new RunEnded(RunOutcome.Stopped, _session.Step, CurrentHash(), reason), journal: true, then: () =>
        {
            _subscribers.Publish(new RunFailed(RunId, _session.Step, reason, RunOutcome.Stopped));
            replyTo.Tell(Status());
        });
    }

    private void End(RunEnded end, bool journal, Action then)
    {
        _execution?.Abandon();
        Timers.CancelAll();
        _live = end.Outcome.Phase(); // its phase from now on; the journal's callback records the end
        Become(Ended);
        if (journal)
        {
            _journal.Flush();
            Persist(end, OnEnded);
        }
        else
        {
            OnEnded(end);
        }

        void OnEnded(RunEnded ended)
        {
            _state = _state.Updated(ended);
            if (journal)
            {
                // one line per run's end (its start is the registry's "accepted"); an incarnation that answers from its journal says nothing
                string line = $"run {RunId} {ended.Status} at step {ended.Step}{(ended.ParamSha256 is string sha ? $", param_sha256 {sha}" : ended.Reason is string why ? $": {why}" : string.Empty)}";
                if (ended.Outcome == RunOutcome.Failed)
                {
                    _log.Error("{0}", line);
                }
                else
                {
                    _log.Info("{0}", line);
                }
            }

            then();
            Context.Parent.Tell(new RunEndedNotice(RunId, ended.Outcome, ended.Step, _state.LastAccuracy));
        }
    }

    /// <summary>A user resumes the ended run: journaled, then this incarnation stops and the registry starts the next, which continues from the last snapshot.</summary>
    private void Resume()
    {
        IActorRef replyTo = Sender;
        _journal.Flush();
        Persist(new RunResumed(RunId, _state.Ended?.Status ?? RunOutcome.Failed.ToWire()), e =>
        {
            _state = _state.Updated(e);
            _log.Info("run {0}: resumed by a user after it {1} at step {2}; continuing from its last snapshot", RunId, e.PreviousStatus, _session.Step);
            replyTo.Tell(new RunAccepted(RunId));

            // messages meanwhile wait in the registry, as for passivation
            SetReceiveTimeout(null);
            Context.Parent.Tell(new RunIdle(RunId));
        });
    }
}

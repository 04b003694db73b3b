using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using CnnCluster.Coordinator.Cluster;
using CnnCluster.Coordinator.Runs.Steps;
using CnnCluster.Coordinator.Runs.Workers;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.DataPlane;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Runs;

/// <summary>What a run actor gives its step execution: workers reached through <see cref="WorkerChannel"/>s, its log, the directory's quarantine.</summary>
public static class ActorStepContext
{
    /// <summary><paramref name="journal"/> journals a run event (a quarantine).</summary>
    public static StepContext<IActorRef> For(IActorContext context, RunSetup run, TrainingSession session, ILoggingAdapter log, SchedulerSettings scheduling, Action<IRunEvent> journal)
    {
        IActorRef self = context.Self;
        ActorSystem system = context.System;
        var dataTraffic = new DataTraffic();
        var clock = Stopwatch.StartNew();
        var workers = new RunWorkers<IActorRef>((w, c) => new WorkerChannel(system, self, w, c.DataEndpoint, dataTraffic), w => w.Path.Address.HasLocalScope);
        return new StepContext<IActorRef>(run.RunId, run.Incarnation, run.Config, run.Data.Fingerprint, session, workers, new RunTelemetry(), new ActorRunLog(log),
            () => clock.Elapsed, Comparer<IActorRef>.Default, scheduling)
        {
            Name = w => w.Path.ToString(),
            Quarantine = (w, step, why) =>
            {
                journal(new WorkerQuarantined(step, w.Path.ToString(), why));
                run.Directory.Tell(new QuarantineWorker(w, why));
            },
            DataTraffic = dataTraffic,
        };
    }

    /// <summary>The step execution's log: the actor's.</summary>
    private sealed class ActorRunLog(ILoggingAdapter log) : IRunLog
    {
        public void Info(string line) => log.Info("{0}", line);

        public void Warning(string line) => log.Warning("{0}", line);

        public void Error(string line) => log.Error("{0}", line);
    }
}

using System.Text.RegularExpressions;
using Akka.Actor;
using Akka.Event;
using CnnCluster.Engine.Data;
using CnnCluster.Engine.Models;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Cluster;

/// <summary>Where the coordinator finds its data and how many threads evaluate.</summary>
public sealed record CoordinatorOptions(string? DataDirectory, int EvaluationThreads);

/// <summary>
/// The coordinator's entry point (a cluster singleton on role `coordinator`): accepts runs, starts a
/// <see cref="TrainingRun"/> child per run (name run-&lt;id&gt;), and owns the <see cref="WorkerDirectory"/>
/// the runs learn their workers from. The submitter of a run receives its events.
/// </summary>
public sealed partial class RunRegistry : ReceiveActor
{
    private readonly CoordinatorOptions _options;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<string, IActorRef> _runs = new();
    private IActorRef _directory = ActorRefs.Nobody;

    public RunRegistry(CoordinatorOptions options)
    {
        _options = options;
        Receive<SubmitRun>(Submit);
        Receive<SubscribeRun>(s =>
        {
            if (_runs.TryGetValue(s.RunId, out IActorRef? run))
            {
                run.Forward(s);
            }
            else
            {
                Sender.Tell(new RunRejected(s.RunId, $"no run '{s.RunId}'"));
            }
        });
    }

    public static Props Props(CoordinatorOptions options) => Akka.Actor.Props.Create(() => new RunRegistry(options));

    protected override void PreStart() => _directory = Context.ActorOf(WorkerDirectory.Props(), "workers");

    private void Submit(SubmitRun submit)
    {
        string id = submit.RunId ?? $"{Path.GetFileNameWithoutExtension(submit.Config.Model)}-{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Random.Shared.Next(0x10000):x4}";
        if (!RunIdPattern().IsMatch(id))
        {
            Sender.Tell(new RunRejected(id, $"run id '{id}' must be 1-64 letters, digits, '.', '_' or '-'"));
            return;
        }

        if (_runs.ContainsKey(id))
        {
            Sender.Tell(new RunRejected(id, $"a run named '{id}' exists already"));
            return;
        }

        RunData data;
        try
        {
            Network.Build(ModelSpecJson.Parse(submit.Config.ModelJson));
            data = RunData.For(_options.DataDirectory, submit.Config.DataLimit);
        }
        catch (Exception e) when (e is ModelSpecException or DatasetException or FormatException)
        {
            Sender.Tell(new RunRejected(id, e.Message));
            return;
        }

        IActorRef run = Context.ActorOf(TrainingRun.Props(id, submit.Config, data, _directory, _options.EvaluationThreads, Sender), "run-" + id);
        _runs[id] = run;
        _log.Info("run {0} accepted: {1}, batch {2}, {3} epochs", id, submit.Config.Model, submit.Config.BatchSize, submit.Config.Epochs);
        Sender.Tell(new RunAccepted(id));
    }

    [GeneratedRegex("^[A-Za-z0-9._-]{1,64}$")]
    private static partial Regex RunIdPattern();
}

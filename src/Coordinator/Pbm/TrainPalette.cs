using System.Globalization;
using System.Threading.Channels;
using Akka.Actor;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Optim;
using CnnCluster.Engine.Training;
using CnnCluster.PbmProtocol;
using CnnCluster.Shared.Pbm;
using CnnCluster.Shared.Protocol;
using static CnnCluster.Shared.Pbm.Describe;

namespace CnnCluster.Coordinator.Pbm;

/// <summary>
/// `train submit | list | status | tail | stop | export`: runs on the cluster, driven from pbm.
/// `submit -m` takes a preset or a JSON spec file in the coordinator's models folder only (<see cref="ModelFolder"/>).
/// </summary>
public sealed class TrainPalette(ActorSystem system, RegistryClient registry, ModelFolder? models = null) : IPalette
{
    private readonly ModelFolder _models = models ?? ModelFolder.FromEnvironment();

    private static readonly SwitchInfo Run = Switch("run", "r", "the run's id", mandatory: true);

    public PaletteInfo Info { get; } = new("train", "submit, watch and control training runs",
    [
        Command("submit", "start a run; prints its id alone on the last line",
            Switch("model", "m", "lenet5, bouvrie, or the name of a JSON spec file in the coordinator's models folder (MODELS_DIR, default ./models in its working directory)", mandatory: true),
            Switch("epochs", "e", "passes over the training set (default 3)"),
            Switch("steps", null, "stop after this many steps"),
            Switch("batch-size", "b", "minibatch size (default 64)"),
            Switch("lr", "l", "learning rate (default 0.03)"),
            Switch("momentum", null, "SGD momentum (default 0.9)"),
            Switch("weight-decay", null, "L2 weight decay (default 5e-4)"),
            Switch("seed", null, "seed of initialization and data order (default 1)"),
            Switch("shard-size", null, "samples per micro-shard (default 8)"),
            Switch("limit", null, "use only the first N training and test images"),
            Switch("run-id", null, "name of the run (default: model-time-random)"),
            Switch("snapshot-every", null, $"steps between snapshots (default {RunConfig.DefaultSnapshotEvery})"),
            Switch("reduce", null, "how gradients are summed: sharded (an exact all-reduce among the workers, default) or star (through the coordinator)"),
            Switch("verify", null, "fraction of nodes computed twice on different workers and compared bit for bit (star reduction; default 0)")),
        Command("list", "every run: id, model, status"),
        Command("status", "a run's state, step, loss, accuracy and parameter hash", Run),
        Command("tail", "live progress of a run until it ends", Run),
        Command("stop", "stop a run for good", Run),
        Command("export", "the run's model (spec and parameters) into a file on this machine", Run, Switch("output", "o", "file to write, e.g. model.cnnm", mandatory: true)),
    ]);

    public async Task<int> ExecuteAsync(ParsedCommand c, ICommandOutput output, CancellationToken cancellation)
    {
        switch (c.Info.Name)
        {
            case "submit":
                RunConfig config = Config(c);
                RunAccepted accepted = await registry.Ask<RunAccepted>(new SubmitRun(c.String("run-id"), config), cancellation);
                output.Line($"submitted {config.Model}: {config.Epochs} epoch(s){(config.MaxSteps is long s ? $", at most {s} steps" : string.Empty)}, batch {config.BatchSize}, lr {config.LearningRate.ToString(CultureInfo.InvariantCulture)}");
                output.Line(accepted.RunId);
                return 0;
            case "list":
                RunList list = await registry.Ask<RunList>(new ListRuns(), cancellation);
                foreach (RunListEntry r in list.Runs)
                {
                    output.Line($"{r.RunId} | {r.Model} | {r.Status}{(r.ForkedFrom is null ? string.Empty : $" | forked from {r.ForkedFrom}")}");
                }

                output.Line($"Count: {list.Runs.Length} runs");
                return 0;
            case "status":
                RunStatus st = await registry.Ask<RunStatus>(new RunStatusRequest(c.Required("run")), cancellation);
                foreach (string line in Describe(st))
                {
                    output.Line(line);
                }

                return 0;
            case "stop":
                RunStatus stopped = await registry.Ask<RunStatus>(new StopRun(c.Required("run")), cancellation);
                output.Line($"run {stopped.RunId} {stopped.State} at step {stopped.Step}");
                return 0;
            case "export":
                ModelExport export = await registry.Ask<ModelExport>(new ExportRun(c.Required("run")), cancellation);
                ModelSpec spec = ModelSpecJson.Parse(export.ModelJson);
                string tmp = Path.Combine(Path.GetTempPath(), $"export-{Guid.NewGuid():N}.cnnm");
                ModelFile.Write(tmp, spec, export.Parameters);
                output.File(c.Required("output"), File.ReadAllBytes(tmp));
                File.Delete(tmp);
                output.Line($"exported run {export.RunId} at step {export.Step} ({spec.Name}, {export.Parameters.Length:N0} parameters, sha256 {export.ParamSha256[..16]}) to {c.Required("output")}");
                return 0;
            default:
                return await Tail(c.Required("run"), output, cancellation);
        }
    }

    private static IEnumerable<string> Describe(RunStatus s)
    {
        yield return $"run: {s.RunId} ({s.Model})";
        yield return $"state: {s.State}{(s.Reason is null ? string.Empty : $" ({s.Reason})")}";
        yield return $"step: {s.Step}/{s.TotalSteps}";
        yield return $"loss: {(s.Loss is double l ? l.ToString("F4", CultureInfo.InvariantCulture) : "-")}";
        yield return $"test accuracy: {(s.TestAccuracy is double a ? (a * 100).ToString("F2", CultureInfo.InvariantCulture) + "%" : "-")}";
        yield return $"workers: {s.Workers}";
        yield return $"param_sha256: {s.ParamSha256}";
    }

    private RunConfig Config(ParsedCommand c)
    {
        string model = c.Required("model");
        ModelSpec spec = _models.Resolve(model);
        try
        {
            Network.Build(spec);
        }
        catch (ModelSpecException e)
        {
            throw new CommandException(e.Message);
        }

        var options = new TrainingOptions
        {
            Epochs = c.Int("epochs", 1, 100_000) ?? 3,
            MaxSteps = c.Int("steps", 1, int.MaxValue),
            BatchSize = c.Int("batch-size", 1, 65536) ?? 64,
            LearningRate = c.Double("lr", 0, 10, minExclusive: true) ?? 0.03,
            Sgd = new SgdOptions(c.Double("momentum", 0, 0.999) ?? 0.9, false, c.Double("weight-decay", 0, 0.999) ?? 5e-4),
            Schedule = LearningRateSchedule.Parse("cosine", 100),
            Seed = (ulong)(c.Int("seed", 0, int.MaxValue) ?? 1),
            ShardSize = c.Int("shard-size", 1, 4096) ?? 8,
        };
        double verify = c.Double("verify", 0, 1) ?? 0;
        Reduction reduction = c.String("reduce") switch
        {
            null when verify > 0 => Reduction.Star,
            "sharded" when verify > 0 => throw new CommandException("--verify compares results at the coordinator, which a sharded run never sees: use --reduce star (the default with --verify)"),
            null or "sharded" => Reduction.Sharded,
            "star" => Reduction.Star,
            var other => throw new CommandException($"--reduce '{other}' is not a way to sum gradients: give sharded or star"),
        };
        return RunConfig.From(spec, model, options, c.Int("limit", 1, int.MaxValue), c.Int("snapshot-every", 1, int.MaxValue) ?? RunConfig.DefaultSnapshotEvery, reduction: reduction) with { Verify = verify };
    }

    private async Task<int> Tail(string runId, ICommandOutput output, CancellationToken cancellation)
    {
        var events = Channel.CreateUnbounded<object>();
        IActorRef listener = system.ActorOf(ChannelForwarder.Props(events.Writer));
        try
        {
            registry.Registry.Tell(new SubscribeRun(runId), listener);
            StepCommitted? pending = null;
            Task<bool>? wait = null;
            while (true)
            {
                // progress at most four times a second; epochs and the end as they come
                wait ??= events.Reader.WaitToReadAsync(cancellation).AsTask();
                if (await Task.WhenAny(wait, Task.Delay(250, cancellation)) != wait)
                {
                    if (pending is not null)
                    {
                        output.Line(Progress(pending));
                        pending = null;
                    }

                    continue;
                }

                wait = null;
                while (events.Reader.TryRead(out object? e))
                {
                    switch (e)
                    {
                        case StepCommitted s:
                            pending = s;
                            break;
                        case EpochCompleted ep:
                            output.Line($"epoch {ep.Epoch + 1}  step {ep.Step}  train_loss {ep.TrainLoss:F4}  test_loss {ep.TestLoss:F4}  test_accuracy {ep.TestAccuracy * 100:F2}%  {ep.ImagesPerSecond:F0} img/s");
                            break;
                        case RunWaiting w:
                            output.Line($"waiting at step {w.Step}: {w.Reason}");
                            break;
                        case RunFinished f:
                            if (pending is not null)
                            {
                                output.Line(Progress(pending));
                            }

                            output.Line($"completed: {f.Steps} steps, {f.ImagesPerSecond:F0} img/s, param_sha256 {f.ParamSha256}");
                            return 0;
                        case RunFailed f:
                            output.Line($"{(f.Reason.Contains("stopped", StringComparison.Ordinal) ? "stopped" : "failed")} at step {f.Step}: {f.Reason}");
                            return f.Reason.Contains("stopped", StringComparison.Ordinal) ? 0 : 1;
                        case RunRejected r:
                            throw new CommandException(r.Reason);
                    }
                }
            }
        }
        finally
        {
            system.Stop(listener);
        }
    }

    private static string Progress(StepCommitted s)
    {
        double done = (double)s.Step / Math.Max(1, s.TotalSteps);
        int filled = (int)(done * 30);
        return $"progress: [{new string('#', filled)}{new string('.', 30 - filled)}] {done * 100,5:F1}%  step {s.Step}/{s.TotalSteps}  epoch {s.Epoch + 1}  loss {s.Loss:F4}  {s.Images / Math.Max(1e-9, s.TrainSeconds):F0} img/s  workers {s.Workers}";
    }
}

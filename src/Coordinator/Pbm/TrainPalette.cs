using System.Globalization;
using System.Threading.Channels;
using Akka.Actor;
using CnnCluster.Engine.Models;
using CnnCluster.Coordinator.Export;
using CnnCluster.Coordinator.Options;
using CnnCluster.Coordinator.Reporting;
using CnnCluster.Export;
using CnnCluster.PbmProtocol;
using CnnCluster.Shared.Pbm;
using CnnCluster.Shared.Protocol;
using static CnnCluster.Shared.Pbm.Describe;

namespace CnnCluster.Coordinator.Pbm;

/// <summary>
/// `train submit | list | status | tail | stop | export`: runs on the cluster, driven from pbm.
/// `submit -m` takes a preset or a JSON spec file in the coordinator's models folder only (<see cref="ModelFolder"/>).
/// </summary>
public sealed class TrainPalette(ActorSystem system, RegistryClient registry, ModelFolder? models = null, string? dataDirectory = null) : IPalette
{
    private readonly ModelFolder _models = models ?? ModelFolder.FromEnvironment();

    // the input normalisation of an ONNX export: the coordinator's training set's statistics, read once
    private readonly Lazy<InputNormalization> _normalization = new(() => OnnxFile.NormalizationOf(dataDirectory));

    private static readonly SwitchInfo Run = Switch("run", "r", "the run's id", mandatory: true);

    /// <summary>`submit`: its switches are the run options of `train` (one table, <see cref="RunOptions"/>).</summary>
    internal static readonly CommandInfo Submit = Command("submit", "start a run; prints its id alone on the last line", RunOptions.All.Select(ToSwitch).ToArray());

    public PaletteInfo Info { get; } = new("train", "submit, watch and control training runs",
    [
        Submit,
        Command("list", "every run: id, model, state, step, test accuracy, submitted, fork source", JsonOutput.Switch),
        Command("status", "a run's state, step, loss, accuracy and parameter hash", Run, JsonOutput.Switch),
        Command("tail", "a run's epochs so far, then its live progress until it ends", Run),
        Command("logs", "a run's history from the store: its settings, progress, epochs, snapshots and end", Run),
        Command("metrics", "a run's figures from the store into a folder on this machine: metrics.csv, steps.csv, metrics.png (loss, test loss, accuracy), config.json, summary.json", Run, Switch("output-dir", "o", "folder to write the files into", mandatory: true)),
        Command("stop", "stop a run (it keeps its snapshots; train resume continues it)", Run),
        Command("resume", "continue a stopped or failed run from its last snapshot", Run),
        Command("export", "the run's model (spec and parameters) into a file on this machine: ours (cnnm, for evaluate) or ONNX", Run, Switch("output", "o", "file to write, e.g. model.cnnm or model.onnx", mandatory: true),
            Switch("format", null, "cnnm (the default) or onnx (input raw 0-255 pixels, outputs logits and probabilities)")),
    ]);

    public async Task<int> ExecuteAsync(ParsedCommand c, ICommandOutput output, CancellationToken cancellation)
    {
        switch (c.Info.Name)
        {
            case "submit":
                (RunConfig config, string? runId) = Config(c);
                RunAccepted accepted = await registry.Ask<RunAccepted>(new SubmitRun(runId, config), cancellation);
                output.Line($"submitted {config.Model}: {config.Epochs} epoch(s){(config.MaxSteps is long s ? $", at most {s} steps" : string.Empty)}, batch {config.BatchSize}, lr {config.LearningRate.ToString(CultureInfo.InvariantCulture)}");
                output.Line(accepted.RunId);
                return 0;
            case "list":
                RunList list = await registry.Ask<RunList>(new ListRuns(), cancellation);
                RunListEntry[] runs = await Task.WhenAll(list.Runs.Select(r => WithProgress(r, cancellation)));
                Runs.Write(c, output, runs);
                return 0;
            case "status":
                RunStatus st = await registry.Ask<RunStatus>(new RunStatusRequest(c.Required("run")), cancellation);
                if (c.Has("json"))
                {
                    output.Line(JsonOutput.Of(st));
                    return 0;
                }

                foreach (string line in Describe(st))
                {
                    output.Line(line);
                }

                return 0;
            case "stop":
                RunStatus stopped = await registry.Ask<RunStatus>(new StopRun(c.Required("run")), cancellation);
                output.Line($"run {stopped.RunId} {stopped.State} at step {stopped.Step}");
                return 0;
            case "resume":
                RunAccepted resumed = await registry.Ask<RunAccepted>(new ResumeRun(c.Required("run")), cancellation);
                output.Line($"resumed run {resumed.RunId} from its last snapshot; follow it with: train tail -r {resumed.RunId}");
                return 0;
            case "export":
                return await Export(c, output, cancellation);
            case "logs":
                foreach (string line in RunRecord.Log(await registry.Ask<RunHistory>(new RunHistoryRequest(c.Required("run")), cancellation)))
                {
                    output.Line(line);
                }

                return 0;
            case "metrics":
                return await Metrics(c.Required("run"), c.Required("output-dir"), output, cancellation);
            default:
                return await Tail(c.Required("run"), output, cancellation);
        }
    }

    private async Task<int> Export(ParsedCommand c, ICommandOutput output, CancellationToken cancellation)
    {
        string format = c.String("format") ?? "cnnm";
        if (format is not ("cnnm" or "onnx"))
        {
            throw new CommandException($"--format {format} is not one of cnnm, onnx");
        }

        ModelExport export = await registry.Ask<ModelExport>(new ExportRun(c.Required("run")), cancellation);
        ModelSpec spec = ModelSpecJson.Parse(export.ModelJson);
        string tmp = Path.Combine(Path.GetTempPath(), $"export-{Guid.NewGuid():N}.{format}");
        try
        {
            if (format == "onnx")
            {
                RunStatus status = await registry.Ask<RunStatus>(new RunStatusRequest(export.RunId), cancellation);
                OnnxFile.Write(tmp, spec, export.Parameters, _normalization.Value, new RunFacts(export.RunId, status.TestAccuracy, export.Step));
            }
            else
            {
                ModelFile.Write(tmp, spec, export.Parameters);
            }

            output.File(c.Required("output"), File.ReadAllBytes(tmp));
        }
        finally
        {
            File.Delete(tmp);
        }

        output.Line($"exported run {export.RunId} at step {export.Step} ({spec.Name}, {export.Parameters.Length:N0} parameters, sha256 {export.ParamSha256[..16]}) as {format} to {c.Required("output")}");
        return 0;
    }

    private static readonly Table<RunListEntry> Runs = new("runs",
        new("Run", r => r.RunId, r => r.RunId),
        new("Model", r => r.Model, r => r.Model),
        new("State", r => r.Status, r => r.Status),
        new("Step", r => r.Step?.ToString(CultureInfo.InvariantCulture) ?? "-", r => r.Step),
        new("Accuracy", r => r.TestAccuracy is double a ? (a * 100).ToString("F2", CultureInfo.InvariantCulture) + "%" : "-", r => r.TestAccuracy),
        new("Submitted", r => r.Submitted?.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture) ?? "-", r => r.Submitted),
        new("Forked from", r => r.ForkedFrom ?? "-", r => r.ForkedFrom));

    /// <summary>A live run's step and accuracy, which only it knows (an ended run's are in the registry's journal; it is not woken for them).</summary>
    private async Task<RunListEntry> WithProgress(RunListEntry r, CancellationToken cancellation)
    {
        if (r.Step is not null || RunOutcomes.ParsePhase(r.Status) is not (RunPhase.Running or RunPhase.Waiting))
        {
            return r;
        }

        try
        {
            RunStatus s = await registry.Ask<RunStatus>(new RunStatusRequest(r.RunId), cancellation);
            return r with { Step = s.Step, TestAccuracy = s.TestAccuracy };
        }
        catch (CommandException)
        {
            return r; // it did not answer: the list still shows what the registry knows
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

    /// <summary>The switch of a run option: the same name, alias and help as `train`'s option (one table, RunOptions).</summary>
    internal static SwitchInfo ToSwitch(RunOption o) => o.Kind == OptionKind.Flag ? Flag(o.Name, o.Alias, o.Description) : Switch(o.Name, o.Alias, o.Description);

    /// <summary>The settings a submit gives, read by the same table and parser as `train`'s command line.</summary>
    internal static RunSettings Settings(ParsedCommand c)
    {
        try
        {
            return RunSettings.From(o => c.String(o.Name));
        }
        catch (ArgumentException e)
        {
            throw new CommandException(e.Message);
        }
    }

    private (RunConfig Config, string? RunId) Config(ParsedCommand c)
    {
        RunSettings settings = Settings(c);
        ModelSpec spec = _models.Resolve(settings.Model);
        try
        {
            Network.Build(spec);
            return (settings.ToRunConfig(spec, inProcessWorkers: false), settings.RunId);
        }
        catch (ModelSpecException e)
        {
            throw new CommandException(e.Message);
        }
        catch (ArgumentException e)
        {
            throw new CommandException(e.Message);
        }
    }

    private async Task<int> Metrics(string runId, string folder, ICommandOutput output, CancellationToken cancellation)
    {
        RunHistory history = await registry.Ask<RunHistory>(new RunHistoryRequest(runId), cancellation);
        string scratch = Path.Combine(Path.GetTempPath(), $"metrics-{Guid.NewGuid():N}");
        try
        {
            RunRecord.Write(history, scratch);
            foreach (string name in RunRecord.FileNames)
            {
                output.File(name, File.ReadAllBytes(Path.Combine(scratch, name)));
            }
        }
        finally
        {
            if (Directory.Exists(scratch))
            {
                Directory.Delete(scratch, recursive: true);
            }
        }

        output.Line($"wrote {string.Join(", ", RunRecord.FileNames)} of run {history.RunId} ({history.State}, {history.Steps.Length} steps, {history.Epochs.Length} epochs) into {folder}");
        return 0;
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
            var clock = System.Diagnostics.Stopwatch.StartNew();
            TimeSpan printed = -ProgressEvery;
            while (true)
            {
                // progress at most four times a second, however fast the steps come; epochs and the end as they come
                if (pending is not null && clock.Elapsed - printed >= ProgressEvery)
                {
                    output.Line(Progress(pending));
                    pending = null;
                    printed = clock.Elapsed;
                }

                wait ??= events.Reader.WaitToReadAsync(cancellation).AsTask();
                if (await Task.WhenAny(wait, Task.Delay(ProgressEvery, cancellation)) != wait)
                {
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
                            output.Line($"epoch {ep.Epoch + 1}  step {ep.Step}  train_loss {ep.TrainLoss:F4}  test_loss {ep.TestLoss:F4}  test_accuracy {ep.TestAccuracy * 100:F2}%  {ep.ImagesPerSecond:F0} img/s{MetricsFiles.SparseAlphaText(ep.SparseAlphaFraction)}");
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
                            output.Line($"{f.Outcome.ToWire()} at step {f.Step}: {f.Reason}");
                            return f.Outcome == RunOutcome.Stopped ? 0 : 1;
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

    private static readonly TimeSpan ProgressEvery = TimeSpan.FromMilliseconds(250);

    private static string Progress(StepCommitted s)
    {
        double done = (double)s.Step / Math.Max(1, s.TotalSteps);
        int filled = (int)(done * 30);
        return $"progress: [{new string('#', filled)}{new string('.', 30 - filled)}] {done * 100,5:F1}%  step {s.Step}/{s.TotalSteps}  epoch {s.Epoch + 1}  loss {s.Loss:F4}  {s.Images / Math.Max(1e-9, s.TrainSeconds):F0} img/s  workers {s.Workers}";
    }
}

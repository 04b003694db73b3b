using System.Diagnostics;
using System.Globalization;
using CnnCluster.Engine.Training;
using Spectre.Console;

namespace CnnCluster.Coordinator.Reporting;

/// <summary>
/// Shows a run's progress: on a terminal, a live Spectre.Console bar per epoch (loss, images/s, then the
/// epoch's test accuracy); when the output is redirected, plain `step N/M ...` lines every few seconds
/// and one line per epoch. Also forwards every report to the metrics collector.
/// </summary>
public sealed class ConsoleProgress
{
    private static readonly TimeSpan PlainInterval = TimeSpan.FromSeconds(2);

    private readonly MetricsFiles _metrics;
    private readonly int _epochs;
    private readonly TextWriter _out;

    public ConsoleProgress(MetricsFiles metrics, int epochs, TextWriter output)
    {
        _metrics = metrics;
        _epochs = epochs;
        _out = output;
    }

    public static bool Interactive => !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;

    public T Run<T>(int stepsPerEpoch, long totalSteps, Func<ITrainingObserver, T> body)
    {
        if (!Interactive)
        {
            return body(new PlainObserver(this, totalSteps));
        }

        T result = default!;
        AnsiConsole.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx => result = body(new LiveObserver(this, ctx, stepsPerEpoch, totalSteps)));
        return result;
    }

    private static string Fmt(double v, string format) => v.ToString(format, CultureInfo.InvariantCulture);

    private string EpochLine(EpochReport e) =>
        $"epoch {e.Epoch + 1}/{_epochs}  step {e.Step}  train_loss {Fmt(e.TrainLoss, "F4")}  test_loss {Fmt(e.TestLoss, "F4")}  test_accuracy {Fmt(e.TestAccuracy * 100, "F2")}%  {Fmt(e.ImagesPerSecond, "F0")} img/s{MetricsFiles.SparseAlphaText(e.SparseAlphaFraction)}";

    private sealed class PlainObserver(ConsoleProgress owner, long totalSteps) : ITrainingObserver
    {
        private readonly Stopwatch _since = Stopwatch.StartNew();

        public void OnStep(StepReport s)
        {
            owner._metrics.Add(s);
            if (_since.Elapsed >= PlainInterval || s.Step == totalSteps || s.Step == 1)
            {
                _since.Restart();
                owner._out.WriteLine(
                    $"step {s.Step}/{totalSteps}  epoch {s.Epoch + 1}/{owner._epochs}  loss {Fmt(s.Loss, "F4")}  lr {Fmt(s.LearningRate, "G4")}  {Fmt(s.Images / Math.Max(1e-9, s.TrainSeconds), "F0")} img/s");
            }
        }

        public void OnEpoch(EpochReport e)
        {
            owner._metrics.Add(e);
            owner._out.WriteLine(owner.EpochLine(e));
        }
    }

    private sealed class LiveObserver : ITrainingObserver
    {
        private readonly ConsoleProgress _owner;
        private readonly ProgressContext _ctx;
        private readonly int _stepsPerEpoch;
        private readonly long _totalSteps;
        private ProgressTask? _task;
        private int _taskEpoch = -1;
        private double _smoothLoss = double.NaN;

        public LiveObserver(ConsoleProgress owner, ProgressContext ctx, int stepsPerEpoch, long totalSteps)
        {
            _owner = owner;
            _ctx = ctx;
            _stepsPerEpoch = stepsPerEpoch;
            _totalSteps = totalSteps;
        }

        public void OnStep(StepReport s)
        {
            _owner._metrics.Add(s);
            if (_taskEpoch != s.Epoch)
            {
                long remaining = _totalSteps - (s.Step - 1);
                _task = _ctx.AddTask($"epoch {s.Epoch + 1}/{_owner._epochs}", maxValue: Math.Min(_stepsPerEpoch, remaining));
                _taskEpoch = s.Epoch;
            }

            _smoothLoss = double.IsNaN(_smoothLoss) ? s.Loss : 0.98 * _smoothLoss + 0.02 * s.Loss;
            _task!.Increment(1);
            _task.Description = $"epoch {s.Epoch + 1}/{_owner._epochs}  step {s.Step}/{_totalSteps}  loss {Fmt(_smoothLoss, "F4")}  {Fmt(s.Images / Math.Max(1e-9, s.TrainSeconds), "F0")} img/s";
        }

        public void OnEpoch(EpochReport e)
        {
            _owner._metrics.Add(e);
            if (_task is not null)
            {
                _task.Description = Markup.Escape(_owner.EpochLine(e));
                _task.StopTask();
            }
        }
    }
}

using System.CommandLine;
using System.Globalization;
using System.Text.RegularExpressions;
using CnnCluster.Coordinator.Local;
using CnnCluster.Coordinator.Options;
using CnnCluster.Engine.Training;

namespace CnnCluster.Coordinator.Cli;

/// <summary>
/// `train`: one run on this machine with the embedded default (one process, in-process threads), or through
/// the embedded cluster. Its run options come from <see cref="RunOptions"/> (shared with `pbm train submit`);
/// the options below are this machine's own. Its last line on stdout is the JSON summary.
/// </summary>
internal static partial class TrainCommand
{
    private static readonly RunOption Threads = new("threads", "t", OptionKind.Whole, "threads of this process (never changes the result)") { Default = "all cores", Min = 1, Max = 256, Example = "1" };
    private static readonly RunOption Data = new("data", null, OptionKind.Text, $"directory of the IDX files (default $CNN_DATA, then {Engine.Data.MnistFormat.DefaultDirectory})") { Example = "data" };
    private static readonly RunOption Out = new("out", null, OptionKind.Text, "where runs/<id>/ goes") { Default = "runs", Example = "out" };
    private static readonly RunOption Workers = new("workers", null, OptionKind.Whole, "train through the cluster with N worker actors in this process") { Min = 0, Max = 64, Example = "2" };
    private static readonly RunOption WorkerProcesses = new("worker-processes", null, OptionKind.Whole, "train through the cluster with N worker processes joining over 127.0.0.1") { Min = 0, Max = 32, Example = "2" };
    private static readonly RunOption WorkerThreads = new("worker-threads", null, OptionKind.Whole, "threads of each worker (default: the cores shared among the workers)") { Min = 1, Max = 256, Example = "1" };
    private static readonly RunOption ClusterPort = new("cluster-port", null, OptionKind.Whole, "this node's cluster port on 127.0.0.1, for more workers to join (0: any free port)") { Default = "0", Min = 0, Max = 65535, Example = "0" };
    private static readonly RunOption Db = new("db", null, OptionKind.Text, "SQLite file of the runs (cluster mode; default PERSISTENCE_PROVIDER/PERSISTENCE_CONNECTION, else ./data/cnncluster.db)") { Example = "runs.db" };
    private static readonly RunOption Resume = new("resume", null, OptionKind.Text, "continue run ID from its last snapshot (cluster mode; options come from its journal)") { Rule = id => Shared.Naming.RunIds.IsValid(id) ? null : Shared.Naming.RunIds.Rule, Example = "a" };
    private static readonly RunOption Fork = new("fork", null, OptionKind.Text, "start from snapshot SEQ of run ID, given as ID:SEQ, with this command's options") { Rule = v => ForkPattern().IsMatch(v) ? null : "give ID:SEQ, e.g. lenet5-a:120", Example = "a:1" };

    private static readonly RunOption Export = new("export", null, OptionKind.Text, "also write the trained model as runs/<id>/model.onnx (ONNX, raw 0-255 pixels in)") { Choices = ["onnx"], Example = "onnx" };
    private static readonly RunOption[] MachineOptions = [Threads, Data, Out, Workers, WorkerProcesses, WorkerThreads, ClusterPort, Db, Resume, Fork, Export];

    public static Command Create()
    {
        var command = new Command("train", "train a model on this machine (embedded default: one process, in-process threads)");
        foreach (RunOption o in RunOptions.All.Concat(MachineOptions))
        {
            command.Options.Add(CommandLineOptions.Of(o));
        }

        command.SetAction(parse =>
        {
            TrainRequest request = ToRequest(o => Given(parse, o));
            var summary = LocalTraining.Run(request, Console.Out);
            Console.Out.WriteLine(summary.ToJsonLine());
            return 0;
        });
        return command;
    }

    /// <summary>The run settings a parsed `train` command line gives (the tests compare them with pbm's).</summary>
    internal static RunSettings Settings(ParseResult parse) => RunSettings.From(o => Given(parse, o));

    private static string? Given(ParseResult p, RunOption o) => CommandLineOptions.Given(p, o);

    /// <summary>The request the command line asks for; <paramref name="given"/> is the text of each option given (null when absent).</summary>
    internal static TrainRequest ToRequest(Func<RunOption, string?> given)
    {
        RunSettings run = RunSettings.From(given);
        int? Whole(RunOption o) => given(o) is string t ? int.Parse(t, CultureInfo.InvariantCulture) : null;

        int threads = Whole(Threads) ?? Environment.ProcessorCount;
        string? resume = given(Resume);
        string runId = resume ?? run.RunId ?? Shared.Naming.RunIds.Default(run.Model);
        string? fork = given(Fork);
        ClusterMode? cluster = null;
        int? workersGiven = Whole(Workers);
        int? processesGiven = Whole(WorkerProcesses);
        if (workersGiven is not null || processesGiven is not null || given(Db) is not null || resume is not null || fork is not null)
        {
            // persistence and resumption live in the cluster path; without workers named, one in-process worker
            int processes = processesGiven ?? 0;
            int workers = workersGiven ?? (processes == 0 ? 1 : 0);
            cluster = new ClusterMode(workers, processes, Whole(WorkerThreads) ?? Math.Max(1, Environment.ProcessorCount / Math.Max(1, workers + processes)), Whole(ClusterPort) ?? 0)
            {
                Database = given(Db),
                Resume = resume is not null,
                ForkFrom = fork?[..fork.LastIndexOf(':')],
                ForkSnapshot = fork is null ? 0 : long.Parse(fork[(fork.LastIndexOf(':') + 1)..], CultureInfo.InvariantCulture),
                SnapshotEvery = run.SnapshotEvery,
                KeepSnapshots = run.KeepSnapshots,
                Reduction = run.Reduction(inProcessWorkers: workers > 0),
                Verify = run.Verify,
            };
        }
        else
        {
            run.Reduction(inProcessWorkers: true); // refuses --verify with --reduce sharded here too
        }

        TrainingOptions training = run.Training(threads);
        return new TrainRequest(run.Model, training, run.Limit, given(Data), given(Out) ?? "runs", runId, cluster) { ExportOnnx = given(Export) is not null };
    }

    [GeneratedRegex(@"\A[A-Za-z0-9][A-Za-z0-9._-]{0,63}:[0-9]{1,18}\z")]
    private static partial Regex ForkPattern();
}

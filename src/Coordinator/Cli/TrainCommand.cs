using System.CommandLine;
using System.Text.RegularExpressions;
using CnnCluster.Coordinator.Local;
using CnnCluster.Engine.Optim;
using CnnCluster.Engine.Training;

namespace CnnCluster.Coordinator.Cli;

/// <summary>
/// `train`: one run on this machine with the embedded default (one process, in-process threads).
/// Its last line on stdout is the JSON summary.
/// </summary>
internal static partial class TrainCommand
{
    private static readonly Option<string> Model = new("--model", "-m") { Description = "lenet5, bouvrie, or a JSON model spec FILE.json", DefaultValueFactory = _ => "lenet5" };
    private static readonly Option<int> Epochs = new Option<int>("--epochs", "-e") { Description = "passes over the training set", DefaultValueFactory = _ => 3 }.Require(v => v >= 1, "at least 1");
    private static readonly Option<long?> Steps = new Option<long?>("--steps") { Description = "stop after this many steps (overrides --epochs when smaller)" }.Require(v => v >= 1, "at least 1");
    private static readonly Option<int> BatchSize = new Option<int>("--batch-size", "-b") { Description = "minibatch size B", DefaultValueFactory = _ => 64 }.Require(v => v is >= 1 and <= 65536, "1 to 65536");
    private static readonly Option<double> LearningRate = new Option<double>("--lr", "-l") { Description = "base learning rate", DefaultValueFactory = _ => 0.03 }.Require(v => v > 0 && v <= 10 && double.IsFinite(v), "a number in (0, 10]");
    private static readonly Option<double> Momentum = new Option<double>("--momentum") { Description = "SGD momentum", DefaultValueFactory = _ => 0.9 }.Require(v => v is >= 0 and < 1, "in [0, 1)");
    private static readonly Option<bool> Nesterov = new("--nesterov") { Description = "Nesterov momentum" };
    private static readonly Option<double> WeightDecay = new Option<double>("--weight-decay") { Description = "L2 weight decay", DefaultValueFactory = _ => 5e-4 }.Require(v => v is >= 0 and < 1, "in [0, 1)");
    private static readonly Option<string> Schedule = new("--schedule") { Description = "learning-rate schedule: constant, cosine, step:EPOCHS:GAMMA", DefaultValueFactory = _ => "cosine" };
    private static readonly Option<int> Warmup = new Option<int>("--warmup-steps") { Description = "linear learning-rate warm-up steps", DefaultValueFactory = _ => 100 }.Require(v => v >= 0, "0 or more");
    private static readonly Option<ulong> Seed = new("--seed") { Description = "seed of initialization and data order", DefaultValueFactory = _ => 1UL };
    private static readonly Option<int> ShardSize = new Option<int>("--shard-size") { Description = "samples per micro-shard S", DefaultValueFactory = _ => 8 }.Require(v => v is >= 1 and <= 4096, "1 to 4096");
    private static readonly Option<int> Threads = new Option<int>("--threads", "-t") { Description = "threads of this process (never changes the result)", DefaultValueFactory = _ => Environment.ProcessorCount }.Require(v => v is >= 1 and <= 256, "1 to 256");
    private static readonly Option<int?> Limit = new Option<int?>("--limit") { Description = "use only the first N training and test images" }.Require(v => v >= 1, "at least 1");
    private static readonly Option<string?> Data = new("--data") { Description = $"directory of the IDX files (default $CNN_DATA, then {Engine.Data.MnistFormat.DefaultDirectory})" };
    private static readonly Option<string> Out = new("--out") { Description = "where runs/<id>/ goes", DefaultValueFactory = _ => "runs" };
    private static readonly Option<int?> Workers = new Option<int?>("--workers") { Description = "train through the cluster with N worker actors in this process" }.Require(v => v is null or >= 0 and <= 64, "0 to 64");
    private static readonly Option<int?> WorkerProcesses = new Option<int?>("--worker-processes") { Description = "train through the cluster with N worker processes joining over 127.0.0.1" }.Require(v => v is null or >= 0 and <= 32, "0 to 32");
    private static readonly Option<int?> WorkerThreads = new Option<int?>("--worker-threads") { Description = "threads of each worker (default: the cores shared among the workers)" }.Require(v => v is null or >= 1 and <= 256, "1 to 256");
    private static readonly Option<int> ClusterPort = new Option<int>("--cluster-port") { Description = "this node's cluster port on 127.0.0.1, for more workers to join (0: any free port)", DefaultValueFactory = _ => 0 }.Require(v => v is >= 0 and <= 65535, "0 to 65535");
    private static readonly Option<string?> Db = new("--db") { Description = "SQLite file of the runs (cluster mode; default PERSISTENCE_PROVIDER/PERSISTENCE_CONNECTION, else ./data/cnncluster.db)" };
    private static readonly Option<string?> Resume = new Option<string?>("--resume") { Description = "continue run ID from its last snapshot (cluster mode; options come from its journal)" }.Require(v => v is null || Shared.Naming.RunIds.IsValid(v), $"a run id: {Shared.Naming.RunIds.Rule}");
    private static readonly Option<string?> Fork = new Option<string?>("--fork") { Description = "start from snapshot SEQ of run ID, given as ID:SEQ, with this command's options" }.Require(v => v is null || ForkPattern().IsMatch(v), "ID:SEQ, e.g. lenet5-a:120");
    private static readonly Option<int> SnapshotEvery = new Option<int>("--snapshot-every") { Description = "steps between snapshots, besides each epoch's end", DefaultValueFactory = _ => Shared.Protocol.RunConfig.DefaultSnapshotEvery }.Require(v => v >= 1, "at least 1");
    private static readonly Option<int> KeepSnapshots = new Option<int>("--keep-snapshots") { Description = "how many of the newest snapshots a run keeps", DefaultValueFactory = _ => Shared.Protocol.RunConfig.DefaultKeepSnapshots }.Require(v => v is >= 1 and <= 1000, "1 to 1000");
    private static readonly Option<string?> Reduce = new Option<string?>("--reduce") { Description = "how gradients are summed: sharded (an exact all-reduce among the workers; the default without in-process workers) or star (through this process; the default with --workers, which it reaches by reference)" }.AcceptOnlyFromAmong("star", "sharded");
    private static readonly Option<double> Verify = new Option<double>("--verify") { Description = "fraction of tree nodes computed twice on different workers and compared bit for bit, a disagreement settled by a third (cluster mode, star reduction)", DefaultValueFactory = _ => 0 }.Require(v => v is >= 0 and <= 1, "in [0, 1]");
    private static readonly Option<string?> RunId = new Option<string?>("--run-id") { Description = "name of the run (default: model-time-random)" }.Require(v => v is null || Shared.Naming.RunIds.IsValid(v), Shared.Naming.RunIds.Rule);

    public static Command Create()
    {
        var command = new Command("train", "train a model on this machine (embedded default: one process, in-process threads)");
        foreach (Option option in new Option[] { Model, Epochs, Steps, BatchSize, LearningRate, Momentum, Nesterov, WeightDecay, Schedule, Warmup, Seed, ShardSize, Threads, Limit, Data, Out, RunId, Workers, WorkerProcesses, WorkerThreads, ClusterPort, Db, Resume, Fork, SnapshotEvery, KeepSnapshots, Reduce, Verify })
        {
            command.Options.Add(option);
        }

        Schedule.Validators.Add(result =>
        {
            string? text = result.GetValueOrDefault<string>();
            try
            {
                LearningRateSchedule.Parse(text ?? string.Empty);
            }
            catch (FormatException e)
            {
                result.AddError($"--schedule: {e.Message}");
            }
        });

        command.SetAction(parse =>
        {
            TrainRequest request = ToRequest(parse);
            var summary = LocalTraining.Run(request, Console.Out);
            Console.Out.WriteLine(summary.ToJsonLine());
            return 0;
        });
        return command;
    }

    private static TrainRequest ToRequest(ParseResult p)
    {
        string model = p.GetValue(Model)!;
        var training = new TrainingOptions
        {
            Epochs = p.GetValue(Epochs),
            MaxSteps = p.GetValue(Steps),
            BatchSize = p.GetValue(BatchSize),
            LearningRate = p.GetValue(LearningRate),
            Sgd = new SgdOptions(p.GetValue(Momentum), p.GetValue(Nesterov), p.GetValue(WeightDecay)),
            Schedule = LearningRateSchedule.Parse(p.GetValue(Schedule)!, p.GetValue(Warmup)),
            Seed = p.GetValue(Seed),
            ShardSize = p.GetValue(ShardSize),
            Threads = p.GetValue(Threads),
        };
        string? resume = p.GetValue(Resume);
        string runId = resume ?? p.GetValue(RunId) ?? Shared.Naming.RunIds.Default(model);
        string? fork = p.GetValue(Fork);
        ClusterMode? cluster = null;
        double verify = p.GetValue(Verify);
        if (verify > 0 && p.GetValue(Reduce) == "sharded")
        {
            throw new ArgumentException("--verify compares results at the coordinator, which a sharded run never sees: use --reduce star (the default with --verify)");
        }

        if (p.GetValue(Workers) is not null || p.GetValue(WorkerProcesses) is not null || p.GetValue(Db) is not null || resume is not null || fork is not null)
        {
            // persistence and resumption live in the cluster path; without workers named, one in-process worker
            int processes = p.GetValue(WorkerProcesses) ?? 0;
            int workers = p.GetValue(Workers) ?? (processes == 0 ? 1 : 0);
            int threads = p.GetValue(WorkerThreads) ?? Math.Max(1, Environment.ProcessorCount / Math.Max(1, workers + processes));
            cluster = new ClusterMode(workers, processes, threads, p.GetValue(ClusterPort))
            {
                Database = p.GetValue(Db),
                Resume = resume is not null,
                ForkFrom = fork?[..fork.LastIndexOf(':')],
                ForkSnapshot = fork is null ? 0 : long.Parse(fork[(fork.LastIndexOf(':') + 1)..], System.Globalization.CultureInfo.InvariantCulture),
                SnapshotEvery = p.GetValue(SnapshotEvery),
                KeepSnapshots = p.GetValue(KeepSnapshots),
                Reduction = p.GetValue(Reduce) switch
                {
                    "star" => Shared.Protocol.Reduction.Star,
                    "sharded" => Shared.Protocol.Reduction.Sharded,
                    _ => workers > 0 || verify > 0 ? Shared.Protocol.Reduction.Star : Shared.Protocol.Reduction.Sharded,
                },
                Verify = verify,
            };
        }

        return new TrainRequest(model, training, p.GetValue(Limit), p.GetValue(Data), p.GetValue(Out)!, runId, cluster);
    }

    [GeneratedRegex(@"\A[A-Za-z0-9][A-Za-z0-9._-]{0,63}:[0-9]{1,18}\z")]
    private static partial Regex ForkPattern();
}

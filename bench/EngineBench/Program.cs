using System.Diagnostics;
using System.Globalization;
using CnnCluster.Bench.Engine;
using CnnCluster.Engine.Data;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Optim;
using CnnCluster.Engine.OracleTests;
using CnnCluster.Engine.Training;

// Our engine against libtorch (TorchSharp-cpu) training lenet5 on Fashion-MNIST: same architecture,
// same initial weights, same batches, same thread count, alternating in this process; then the FP32
// peak of this CPU and each layer's kernels as a fraction of it. Run by hand:
//   dotnet run -c Release --project bench/EngineBench [-- --rounds 5 --images 32768 --batches 64,256 --threads 1,2]
//   dotnet run -c Release --project bench/EngineBench -- --kernels-only      (peak and layer kernels only)
//   dotnet run -c Release --project bench/EngineBench -- --kernels-only --layers-of convnet   (another preset's layers)
//   dotnet run -c Release --project bench/EngineBench -- --ab BASE.dll [--ab-rounds 7] [--layers-of M]   (layers against another build: scripts/engine-ab.sh)
//   dotnet run -c Release --project bench/EngineBench -- --memory-epochs 10  (memory of the training loop per epoch)
//   dotnet run -c Release --project bench/EngineBench -- --time-to 0.90 [--epochs 10 --threads 2 --eval-every 235]
// The last is time to a test accuracy (TimeToAccuracy.cs): both train lenet5 with the project's default
// recipe (batch 64, SGD lr 0.03 cosine with 100 warm-up steps, momentum 0.9, weight decay 5e-4) from the
// same weights on the same batches, alternating chunks of --eval-every steps; after each chunk both are
// tested on the 10,000 test images (untimed); it prints the training seconds and steps at which each
// first reached the target, and libtorch's time over ours (figures: README, "Engine speed").
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
int rounds = Arg("--rounds", 5);
int imagesPerRound = Arg("--images", 32768);
int[] batches = ArgList("--batches", [64, 256]);
int[] threadCounts = ArgList("--threads", [1, 2]);
bool kernelsOnly = args.Contains("--kernels-only");
int memoryEpochs = Arg("--memory-epochs", 0);
double timeTo = ArgNumber("--time-to", 0);
const double LearningRate = 0.01, Momentum = 0.9, WeightDecay = 5e-4;
string layersName = ArgText("--layers-of") ?? "lenet5";
if (Presets.Find(layersName) is not ModelSpec layersOf)
{
    Console.Error.WriteLine($"error: --layers-of '{layersName}' is not a preset; give one of {string.Join(", ", Presets.Names)}");
    Environment.ExitCode = 2;
    return;
}

if (args.Contains(LayerServer.Flag))
{
    Environment.ExitCode = LayerServer.Run(layersOf);
    return;
}

if (ArgText("--ab") is string baselineDll)
{
    Environment.ExitCode = AbCompare.Run(baselineDll, layersName, Arg("--ab-rounds", 7));
    return;
}

DatasetSplits data = MnistFormat.Load(null);
LabeledImages train = data.Train;
if (memoryEpochs > 0)
{
    EpochMemory.Print(data, memoryEpochs, Environment.ProcessorCount);
    return;
}

Network network = Network.Build(Presets.LeNet5);

Console.WriteLine($"CPU: {Environment.ProcessorCount} cores, {PeakFlops.Width}; .NET {Environment.Version}; libtorch via TorchSharp {typeof(TorchSharp.torch).Assembly.GetName().Version}");
if (timeTo > 0)
{
    TimeToAccuracy.Run(data, network, timeTo, Arg("--epochs", 10), Arg("--threads", Environment.ProcessorCount), Arg("--eval-every", 235));
    return;
}

double peak1 = PeakFlops.Measure(1);
double peakAll = PeakFlops.Measure(Environment.ProcessorCount);
Console.WriteLine($"FP32 peak (FMA loop): {peak1:F1} GFLOP/s on 1 core, {peakAll:F1} on {Environment.ProcessorCount}");
Console.WriteLine();
LayerTimes.Print(Network.Build(layersOf), 8, peak1);
if (kernelsOnly)
{
    return;
}

var normalized = new float[train.Count * train.Shape.Size];
train.Load(Enumerable.Range(0, train.Count).ToArray(), normalized, new int[train.Count]);

Console.WriteLine();
Console.WriteLine($"lenet5 training steps, images/s: median of {rounds} alternating rounds of {imagesPerRound:N0} images (after one warm-up round each)");
var table = new List<string>();
foreach (int threads in threadCounts)
{
    foreach (int batch in batches)
    {
        TorchSharp.torch.set_num_threads(threads);
        var options = new TrainingOptions
        {
            Epochs = 1000, BatchSize = batch, LearningRate = LearningRate, ShardSize = 8, Threads = threads, Seed = 1,
            Sgd = new SgdOptions(Momentum, false, WeightDecay),
        };
        using var ours = new OurLeNet(network, options, train);
        using var torch = new TorchLeNet(network, (float[])ours.Parameters.Clone(), normalized, train.Labels, LearningRate, Momentum, WeightDecay);
        var order = new BatchOrder(options.Seed, train.Count, batch);
        long torchStep = 0;
        int steps = Math.Max(10, imagesPerRound / batch);
        var oursRates = new List<double>();
        var torchRates = new List<double>();
        double oursLoss = 0, torchLoss = 0;
        for (int round = 0; round <= rounds; round++)
        {
            var clock = Stopwatch.StartNew();
            for (int s = 0; s < steps; s++)
            {
                oursLoss = ours.Step().Loss;
            }

            double oursSeconds = clock.Elapsed.TotalSeconds;
            clock.Restart();
            for (int s = 0; s < steps; s++)
            {
                torchLoss = torch.Step(order.For(torchStep++));
            }

            double torchSeconds = clock.Elapsed.TotalSeconds;
            if (round > 0)
            {
                oursRates.Add(steps * batch / oursSeconds);
                torchRates.Add(steps * batch / torchSeconds);
            }
        }

        long before = GC.GetTotalAllocatedBytes(precise: true);
        for (int s = 0; s < 20; s++)
        {
            ours.Step();
        }

        double allocatedPerStep = (GC.GetTotalAllocatedBytes(precise: true) - before) / 20.0;
        double o = Median(oursRates), t = Median(torchRates);
        string row = $"| {batch,5} | {threads,7} | {o,12:N0} | {t,15:N0} | {o / t,5:F2} |";
        table.Add(row);
        Console.WriteLine($"batch {batch}, {threads} thread(s): ours {o:N0} img/s (loss {oursLoss:F4}), libtorch {t:N0} img/s (loss {torchLoss:F4}), ratio {o / t:F2}; ours allocates {allocatedPerStep:N0} B/step  [ours {string.Join(" ", oursRates.Select(r => r.ToString("F0")))}; libtorch {string.Join(" ", torchRates.Select(r => r.ToString("F0")))}]");
    }
}

Console.WriteLine();
Console.WriteLine("| batch | threads | ours (img/s) | libtorch (img/s) | ratio |");
Console.WriteLine("|------:|--------:|-------------:|----------------:|------:|");
table.ForEach(Console.WriteLine);

static double Median(List<double> values)
{
    var sorted = values.Order().ToArray();
    return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
}

// the word after the switch NAME, or null when it is not given
string? ArgText(string name)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}

int Arg(string name, int fallback) => ArgText(name) is string v ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

double ArgNumber(string name, double fallback) => ArgText(name) is string v ? double.Parse(v, CultureInfo.InvariantCulture) : fallback;

int[] ArgList(string name, int[] fallback) =>
    ArgText(name) is string v ? v.Split(',').Select(x => int.Parse(x, CultureInfo.InvariantCulture)).ToArray() : fallback;

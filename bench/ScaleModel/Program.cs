using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using CnnCluster.Bench.ScaleModel;
using CnnCluster.Coordinator.Cluster;
using CnnCluster.Engine.Data;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.DataPlane;
using CnnCluster.Shared.Protocol;

// The scale model of a training step (README, "Scaling past one link"): step time = compute + communication
// as a function of workers N, parameters P, batch and link bandwidth, for the star (every gradient and
// parameter vector through the coordinator) and the sharded all-reduce, with Horovod's ring beside them.
// Its constants are measured here: one worker's compute of its tree node (1 thread), a replica's update
// (commit, hash, the step-start copy) per parameter, and our data plane on 127.0.0.1 (bandwidth, cost of
// a frame, round trip). Then the model's prediction for N = 2 is checked against `train` with two worker
// processes (alternating star and sharded runs, median step time), and projected to 8, 32 and 128
// workers on 10 and 100 Gb/s links for lenet5 and the 5 M-parameter model. Run by hand:
//   dotnet run -c Release --project bench/ScaleModel [-- --repeats 3 --steps 300]
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
int repeats = Arg("--repeats", 3);
int steps = Arg("--steps", 300);
LabeledImages train = MnistFormat.Load(null).Train;
string work = Directory.CreateTempSubdirectory("scale-model-").FullName;
string wideSpec = Path.Combine(work, "wide.json");
File.WriteAllText(wideSpec, """
    { "name": "wide", "input": [1, 28, 28], "classes": 10,
      "layers": [ { "type": "flatten" }, { "type": "dense", "out": 6400 }, { "type": "relu" }, { "type": "dense", "out": 10 } ] }
    """);
var models = new (string Name, string Arg, ModelSpec Spec, int Batch)[]
{
    ("lenet5", "lenet5", Presets.LeNet5, 256),
    ("wide (5.09 M)", wideSpec, ModelSpecJson.Parse(File.ReadAllText(wideSpec)), 64),
};

Console.WriteLine($"scale model constants on this machine ({Environment.ProcessorCount} cores); medians of {repeats} rounds");
LinkConstants link = LinkConstants.Measure(repeats);
Console.WriteLine($"  data plane on 127.0.0.1: {link.BytesPerSecond / 1e9:F2} GB/s for large frames, {link.FrameSeconds * 1e6:F1} µs a frame, {link.RoundTripSeconds * 1e6:F1} µs a round trip; an added float {link.AddSecondsPerFloat * 1e9:F2} ns");

var constants = new Dictionary<string, (Compute Alone, Compute BySide, double UpdatePerParameter, int P)>();
foreach ((string name, string _, ModelSpec spec, int batch) in models)
{
    Network network = Network.Build(spec);
    Compute alone = Compute.Measure(network, train, repeats, [64], concurrent: 1);
    Compute bySide = Compute.Measure(network, train, repeats, [batch / 2], concurrent: 2);
    Update u = Update.Measure(network, train, repeats);
    double update = u.Total;
    constants[name] = (alone, bySide, update, network.ParameterCount);
    Console.WriteLine($"  {name}: P = {network.ParameterCount:N0}; a worker's node (1 thread): {alone.Seconds(64) * 1e3:F2} ms for 64 images alone, {bySide.Seconds(batch / 2) * 1e3:F2} ms for {batch / 2} with another beside it");
    Console.WriteLine($"    a replica's update per parameter: start copy {u.Copy * 1e9:F2} ns, commit {u.Commit * 1e9:F2} ns, XXH3 {u.Checksum * 1e9:F2} ns, SHA-256 {u.Sha256 * 1e9:F2} ns: {u.Total * network.ParameterCount * 1e3:F2} ms a step");
}

Console.WriteLine();
Console.WriteLine($"prediction for N = 2 against `train --worker-processes 2 --worker-threads 1` ({steps} steps, median step, {repeats} alternating rounds):");
Console.WriteLine("| model | batch | form | predicted ms (its compute) | measured ms (its compute) | measured / predicted | param_sha256 |");
Console.WriteLine("|---|---|---|---|---|---|---|");
foreach ((string name, string arg, ModelSpec _, int batch) in models)
{
    (Compute _, Compute compute, double update, int p) = constants[name];
    var measured = new Dictionary<Reduction, List<(double Step, double Compute)>> { [Reduction.Star] = [], [Reduction.Sharded] = [] };
    var hashes = new HashSet<string>();
    for (int r = 0; r < repeats; r++)
    {
        foreach (Reduction form in measured.Keys)
        {
            (double stepMs, double computeMs, string hash) = TrainRun.MedianStep(arg, batch, steps, form, work);
            measured[form].Add((stepMs, computeMs));
            hashes.Add(hash);
        }
    }

    foreach ((Reduction form, List<(double Step, double Compute)> runs) in measured)
    {
        var model = new StepModel(compute.Seconds(batch / 2), update * p, p, link);
        double predicted = (form == Reduction.Star ? model.Star(2, link.BytesPerSecond) : model.Sharded(2, link.BytesPerSecond, oneHost: true)) * 1e3;
        double median = LinkConstants.Median(runs.Select(r => r.Step).ToList()), computeMedian = LinkConstants.Median(runs.Select(r => r.Compute).ToList());
        Console.WriteLine($"| {name} | {batch} | {form.ToString().ToLowerInvariant()} | {predicted:F2} ({model.ComputeSeconds * 1e3:F2}) | {median:F2} ({computeMedian:F2}) | {median / predicted:F2} | {(hashes.Count == 1 ? hashes.Single()[..12] : "DIFFER: " + string.Join(",", hashes))} |");
    }
}

Console.WriteLine();
Console.WriteLine("projection, 64 images per worker (batch 64·N), step time in ms (compute + communication + update); the link's frame cost and round trip as measured here:");
Console.WriteLine("| model | link | N | star | sharded (ours) | ring (Horovod) | star / sharded |");
Console.WriteLine("|---|---|---|---|---|---|---|");
foreach ((string name, _, _, _) in models)
{
    (Compute compute, Compute _, double update, int p) = constants[name];
    var model = new StepModel(compute.Seconds(64), update * p, p, link);
    foreach (double gbps in new[] { 10.0, 100.0 })
    {
        foreach (int n in new[] { 8, 32, 128 })
        {
            double w = gbps * 1e9 / 8;
            double star = model.Star(n, w) * 1e3, sharded = model.Sharded(n, w) * 1e3, ring = model.Ring(n, w) * 1e3;
            Console.WriteLine($"| {name} | {gbps:F0} Gb/s | {n} | {star:F1} | {sharded:F1} | {ring:F1} | {star / sharded:F1} |");
        }
    }
}

Directory.Delete(work, recursive: true);

int Arg(string name, int fallback)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
}

namespace CnnCluster.Bench.ScaleModel
{
    /// <summary>
    /// A step's time by the algorithm. Every form computes its nodes (<see cref="ComputeSeconds"/>) and every
    /// replica (or the coordinator) updates P parameters (<see cref="UpdateSeconds"/>); they differ in what
    /// crosses which link. W is a link's bandwidth in bytes/s; a frame costs <see cref="LinkConstants.FrameSeconds"/>
    /// of the sender's link and a hop half a round trip.
    /// </summary>
    public sealed record StepModel(double ComputeSeconds, double UpdateSeconds, int P, LinkConstants Link)
    {
        private double Hop => Link.RoundTripSeconds / 2;

        /// <summary>The coordinator's link carries N parameter vectors out and N gradients in; it sums N gradients and updates.</summary>
        public double Star(int n, double w) =>
            ComputeSeconds + 2.0 * n * 4 * P / w + 2 * n * Link.FrameSeconds + 2 * Hop + (n - 1) * P * Link.AddSecondsPerFloat + UpdateSeconds;

        /// <summary>
        /// Each worker sends its node's N − 1 foreign slices and its slice's sum to N − 1 members: 2·(N−1)/N·4P bytes
        /// and 2(N − 1) frames on its own link; two hops (parts, then sums) and the coordinator's plan/report round trip.
        /// With <paramref name="oneHost"/> the N workers' links are one loopback, whose bandwidth was measured with
        /// the host's cores copying: it carries all N workers' bytes (the star's coordinator link already does).
        /// </summary>
        public double Sharded(int n, double w, bool oneHost = false) =>
            ComputeSeconds + (oneHost ? n : 1) * 2.0 * (n - 1) / n * 4 * P / w + 2 * (n - 1) * Link.FrameSeconds + 2 * Hop + Link.RoundTripSeconds
            + (n - 1) * (double)P / n * Link.AddSecondsPerFloat + UpdateSeconds;

        /// <summary>Horovod's ring all-reduce: the same bytes, in 2(N − 1) steps each a hop and a frame.</summary>
        public double Ring(int n, double w) =>
            ComputeSeconds + 2.0 * (n - 1) / n * 4 * P / w + 2 * (n - 1) * (Link.FrameSeconds + Hop)
            + (n - 1) * (double)P / n * Link.AddSecondsPerFloat + UpdateSeconds;
    }

    /// <summary>Our data plane between two ends on 127.0.0.1 (real sockets, the real frames).</summary>
    public sealed record LinkConstants(double BytesPerSecond, double FrameSeconds, double RoundTripSeconds, double AddSecondsPerFloat)
    {
        public static LinkConstants Measure(int repeats)
        {
            var bandwidth = new List<double>();
            var frame = new List<double>();
            var roundTrip = new List<double>();
            var arrived = new BlockingCollection<IProtocolMessage>();
            using var server = new DataPlaneServer("127.0.0.1", 0, "127.0.0.1", (m, replies) =>
            {
                if (m is StepPlan plan)
                {
                    replies.Send(new NodeDone(plan.Ref, new TreeNode(0, 0), 0));
                }
                else
                {
                    arrived.Add(m);
                }
            }, _ => { });
            server.Start();
            var answers = new BlockingCollection<IProtocolMessage>();
            using var link = new DataLink(server.Endpoint, answers.Add, _ => { });
            float[] large = new float[1 << 20];
            for (int r = 0; r <= repeats; r++)
            {
                // 64 frames of 4 MiB (the first round warms up)
                long start = Stopwatch.GetTimestamp();
                for (int i = 0; i < 64; i++)
                {
                    link.Send(new SlicePart(new StepRef("b", 1, 1, 1), new TreeNode(i, 0), 0, 0, large));
                }

                for (int i = 0; i < 64; i++)
                {
                    var part = (SlicePart)arrived.Take();
                    GradientBuffers.Shared(part.Values.Length).Return(part.Values);
                }

                double bw = 64.0 * 4 * large.Length / Stopwatch.GetElapsedTime(start).TotalSeconds;

                // 20,000 small frames, then 2,000 round trips
                start = Stopwatch.GetTimestamp();
                float[] small = new float[16];
                for (int i = 0; i < 20_000; i++)
                {
                    link.Send(new SlicePart(new StepRef("b", 1, 1, 1), new TreeNode(i, 0), 0, 0, small));
                }

                for (int i = 0; i < 20_000; i++)
                {
                    arrived.Take();
                }

                double perFrame = Stopwatch.GetElapsedTime(start).TotalSeconds / 20_000;
                start = Stopwatch.GetTimestamp();
                for (int i = 0; i < 2_000; i++)
                {
                    link.Send(new StepPlan(new StepRef("b", 1, 1, i), ["a:1", "b:2"], 0, [new TreeNode(0, 3)], [new TreeNode(0, 3)], false));
                    answers.Take();
                }

                double rtt = Stopwatch.GetElapsedTime(start).TotalSeconds / 2_000;
                if (r > 0)
                {
                    bandwidth.Add(bw);
                    frame.Add(perFrame);
                    roundTrip.Add(rtt);
                }
            }

            return new LinkConstants(Median(bandwidth), Median(frame), Median(roundTrip), AddSeconds(repeats));
        }

        /// <summary>Seconds per float of the reducer's add (left += right), over buffers larger than the caches.</summary>
        private static double AddSeconds(int repeats)
        {
            float[] a = new float[1 << 22], b = new float[1 << 22];
            var runs = new List<double>();
            for (int r = 0; r <= repeats; r++)
            {
                long start = Stopwatch.GetTimestamp();
                for (int i = 0; i < 8; i++)
                {
                    System.Numerics.Tensors.TensorPrimitives.Add(a, b, a);
                }

                runs.Add(Stopwatch.GetElapsedTime(start).TotalSeconds / (8.0 * a.Length));
            }

            return Median(runs.Skip(1).ToList());
        }

        public static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);
    }

    /// <summary>
    /// One worker's compute of a tree node of a given number of images on 1 thread, with <c>concurrent</c>
    /// workers computing side by side (2 on this machine's 2 cores, as in the N = 2 runs; 1 for a worker
    /// with a machine of its own): a round lasts until the slowest of them is done.
    /// </summary>
    public sealed class Compute(Dictionary<int, double> seconds)
    {
        public double Seconds(int images) => seconds[images];

        public static Compute Measure(Network network, LabeledImages data, int repeats, int[] sizes, int concurrent)
        {
            var result = new Dictionary<int, double>();
            float[] parameters = network.InitialParameters(1);
            ParallelGradient[] workers = Enumerable.Range(0, concurrent).Select(_ => new ParallelGradient(network, 8, 1)).ToArray();
            foreach (int images in sizes.Distinct())
            {
                var batch = new ArraySegment<int>(Enumerable.Range(0, images).ToArray());
                var plan = new ShardPlan(images, 8);
                int level = plan.LevelFor(1);
                var runs = new List<double>();
                for (int r = 0; r <= repeats * 3; r++)
                {
                    long start = Stopwatch.GetTimestamp();
                    Parallel.For(0, concurrent, new ParallelOptions { MaxDegreeOfParallelism = concurrent }, w =>
                    {
                        (float[] g, double _) = workers[w].ComputeBlock(parameters, data, batch, plan, level, 0, CnnCluster.Engine.Layers.PassContext.ForTraining(1, 0, 0, augment: false));
                        GradientBuffers.Shared(g.Length).Return(g);
                    });
                    runs.Add(Stopwatch.GetElapsedTime(start).TotalSeconds);
                }

                result[images] = LinkConstants.Median(runs.Skip(1).ToList());
            }

            foreach (ParallelGradient w in workers)
            {
                w.Dispose();
            }

            return new Compute(result);
        }
    }

    /// <summary>
    /// A replica's update after the exchange, per parameter: the step-start copy (overlapped with the
    /// compute in a replica, counted here in full), the whole commit, the XXH3 checksum every replica
    /// sends, and the SHA-256 that the step's hasher sends (its step waits for it).
    /// </summary>
    public sealed record Update(double Copy, double Commit, double Checksum, double Sha256)
    {
        public double Total => Copy + Commit + Checksum + Sha256;

        public static Update Measure(Network network, LabeledImages data, int repeats)
        {
            var session = new TrainingSession(network, new TrainingOptions { Epochs = 1000, BatchSize = 64 }, data, null);
            int p = network.ParameterCount;
            float[] start = new float[p], velocity = new float[p];
            var runs = new List<double[]>();
            float[] sum = new float[p]; // reused, as a replica's pooled buffers are (a fresh array pays its page faults in the commit)
            for (int r = 0; r <= repeats * 3; r++)
            {
                session.BeginStep();
                long t0 = Stopwatch.GetTimestamp();
                session.Parameters.CopyTo(start, 0);
                session.Optimizer.Velocity.CopyTo(velocity, 0);
                long t1 = Stopwatch.GetTimestamp();
                session.Commit(sum, 64, 64);
                long t2 = Stopwatch.GetTimestamp();
                Worker.Sharded.ReplicaChecksum.Of(session.Parameters);
                long t3 = Stopwatch.GetTimestamp();
                ParameterHash.Of(session.Parameters);
                long t4 = Stopwatch.GetTimestamp();
                runs.Add([Seconds(t0, t1) / p, Seconds(t1, t2) / p, Seconds(t2, t3) / p, Seconds(t3, t4) / p]);
            }

            double Part(int i) => LinkConstants.Median(runs.Skip(1).Select(x => x[i]).ToList());
            return new Update(Part(0), Part(1), Part(2), Part(3));
        }

        private static double Seconds(long from, long to) => (double)(to - from) / Stopwatch.Frequency;
    }

    /// <summary>A real `train` with two worker processes (1 thread each): its median step and its hash.</summary>
    public static class TrainRun
    {
        public static (double StepMilliseconds, double ComputeMilliseconds, string Hash) MedianStep(string model, int batch, int steps, Reduction form, string work)
        {
            string db = Path.Combine(work, $"runs-{Guid.NewGuid():N}.db");
            var psi = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "CnnCluster.Coordinator.dll"), "train", "--model", model, "--batch-size", batch.ToString(),
                "--steps", steps.ToString(), "--epochs", "100", "--worker-processes", "2", "--worker-threads", "1", "--reduce", form.ToString().ToLowerInvariant(),
                "--db", db, "--out", work, "--limit", "10000"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using Process p = Process.Start(psi)!;
            _ = p.StandardError.ReadToEndAsync();
            string[] lines = p.StandardOutput.ReadToEnd().TrimEnd().Split('\n');
            p.WaitForExit();
            if (p.ExitCode != 0)
            {
                throw new InvalidOperationException($"train exited {p.ExitCode}: {lines[^1]}");
            }

            using JsonDocument summary = JsonDocument.Parse(lines[^1]);
            JsonElement phases = summary.RootElement.GetProperty("phases_us");
            return (phases.GetProperty("step").GetDouble() / 1000, phases.GetProperty("compute").GetDouble() / 1000, summary.RootElement.GetProperty("param_sha256").GetString()!);
        }
    }
}

using CnnCluster.Engine.Data;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Optim;
using CnnCluster.Engine.OracleTests;
using CnnCluster.Engine.Training;

namespace CnnCluster.Bench.Engine;

/// <summary>
/// Time to a test accuracy on lenet5, our engine against libtorch, one recipe for both: batch 64, SGD
/// with momentum 0.9 and weight decay 5e-4, base rate 0.03 on the project's default schedule (cosine over
/// the whole run after 100 linear warm-up steps, the rate of every step handed to torch's optimizer), the
/// same initial parameters, the same batches (our session's epoch permutations), no augmentation, no
/// dropout, the same thread count. The two alternate in this process, a chunk of steps each; only the
/// steps are timed. After each chunk both are tested on the whole test set, so a side reaches the target
/// at the first evaluation that meets it: the figures have a chunk's resolution.
/// </summary>
public static class TimeToAccuracy
{
    private const int BatchSize = 64, WarmupSteps = 100;
    private const double LearningRate = 0.03, Momentum = 0.9, WeightDecay = 5e-4;

    public static void Run(DatasetSplits data, Network network, double target, int epochs, int threads, int evalEvery)
    {
        var options = new TrainingOptions
        {
            Epochs = epochs, BatchSize = BatchSize, LearningRate = LearningRate, ShardSize = 8, Threads = threads, Seed = 1,
            Sgd = new SgdOptions(Momentum, false, WeightDecay), Schedule = LearningRateSchedule.Parse("cosine", WarmupSteps),
        };
        TorchSharp.torch.set_num_threads(threads);
        using var ours = new OurLeNet(network, options, data.Train);
        TrainingSession session = ours.Session;
        using var torch = new TorchLeNet(network, (float[])ours.Parameters.Clone(), Normalized(data.Train), data.Train.Labels, LearningRate, Momentum, WeightDecay);
        float[] testImages = Normalized(data.Test);
        var order = new BatchOrder(options.Seed, data.Train.Count, BatchSize);

        // step s's rate as TrainingSession.LearningRate computes it; our step checks that it used the same
        double RateOf(long step) => options.Schedule.At(LearningRate, step, session.TotalSteps, session.StepsPerEpoch);
        Contender[] sides =
        [
            new("ours", s => OurStep(ours, s, RateOf(s)), () => ours.Accuracy(data.Test), target),
            new("libtorch", s => torch.Step(order.For(s), RateOf(s)), () => torch.Accuracy(testImages, data.Test.Labels), target),
        ];

        Console.WriteLine($"lenet5 to {Percent(target)} test accuracy: {epochs} epochs of {session.StepsPerEpoch} steps, batch {BatchSize}, {threads} thread(s), " +
                          $"SGD lr {LearningRate} (cosine, {WarmupSteps} warm-up steps), momentum {Momentum}, weight decay {WeightDecay}; tested every {evalEvery} steps on {data.Test.Count:N0} images");
        while (sides[0].Steps < session.TotalSteps)
        {
            int steps = (int)Math.Min(evalEvery, session.TotalSteps - sides[0].Steps);
            foreach (Contender side in sides)
            {
                side.Train(steps);
            }

            foreach (Contender side in sides)
            {
                side.Evaluate();
            }

            // the evaluations' garbage goes now, not during the next chunk's timed steps
            GC.Collect();
            Console.WriteLine($"step {sides[0].Steps,6} (epoch {(double)sides[0].Steps / session.StepsPerEpoch,5:F2}): " +
                              string.Join(" | ", sides.Select(s => $"{s.Name} {Percent(s.Accuracy),6} after {s.TrainSeconds,6:F1} s")));
        }

        Console.WriteLine();
        PrintTable(sides, target, session.StepsPerEpoch);
    }

    /// <summary>Our step <paramref name="step"/>; throws if the session was not at that step or used another rate than libtorch gets.</summary>
    private static void OurStep(OurLeNet ours, long step, double rate)
    {
        StepReport report = ours.Step();
        if (report.Step != step + 1 || report.LearningRate != rate)
        {
            throw new InvalidOperationException($"our step {report.Step - 1} at rate {report.LearningRate} is not libtorch's step {step} at rate {rate}");
        }
    }

    private static void PrintTable(Contender[] sides, double target, int stepsPerEpoch)
    {
        string goal = Percent(target);
        Console.WriteLine($"| side     | steps to {goal} | epoch | training s to {goal} | final accuracy | training s, whole run |");
        Console.WriteLine("|----------|----------------:|------:|---------------------:|---------------:|----------------------:|");
        foreach (Contender side in sides)
        {
            string steps = "not reached", epochs = "", seconds = "";
            if (side.Reached is (double s, long n))
            {
                (steps, epochs, seconds) = ($"{n:N0}", $"{(double)n / stepsPerEpoch:F2}", $"{s:F1}");
            }

            Console.WriteLine($"| {side.Name,-8} | {steps,15} | {epochs,5} | {seconds,20} | {Percent(side.Accuracy),14} | {side.TrainSeconds,21:F1} |");
        }

        Contender ours = sides[0], torch = sides[1];
        string toTarget = ours.Reached is (double o, _) && torch.Reached is (double t, _) ? $"{t / o:F2} to {goal}" : $"none to {goal} (not reached by both)";
        Console.WriteLine();
        Console.WriteLine($"libtorch time / ours: {toTarget}; {torch.TrainSeconds / ours.TrainSeconds:F2} for the whole run");
    }

    /// <summary>0.9 → "90.00%".</summary>
    private static string Percent(double share) => $"{share * 100:F2}%";

    private static float[] Normalized(LabeledImages images)
    {
        var pixels = new float[images.Count * images.Shape.Size];
        images.Load(Enumerable.Range(0, images.Count).ToArray(), pixels, new int[images.Count]);
        return pixels;
    }
}

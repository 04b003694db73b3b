using System.Diagnostics;

namespace CnnCluster.Bench.Engine;

/// <summary>
/// One side of the time-to-accuracy race: its step (given the 0-based step number), its test accuracy,
/// the clock of its training steps alone, and where its test accuracy first reached the target.
/// </summary>
public sealed class Contender(string name, Action<long> step, Func<double> testAccuracy, double target)
{
    private readonly Stopwatch _clock = new();

    public string Name => name;

    /// <summary>Steps trained so far.</summary>
    public long Steps { get; private set; }

    /// <summary>Time spent in training steps (evaluations are not counted).</summary>
    public double TrainSeconds => _clock.Elapsed.TotalSeconds;

    /// <summary>The last evaluation's test accuracy.</summary>
    public double Accuracy { get; private set; } = double.NaN;

    /// <summary>Training seconds and steps at the first evaluation at or above the target; null until then.</summary>
    public (double Seconds, long Steps)? Reached { get; private set; }

    /// <summary>The next <paramref name="steps"/> steps, timed.</summary>
    public void Train(int steps)
    {
        _clock.Start();
        for (int s = 0; s < steps; s++)
        {
            step(Steps++);
        }

        _clock.Stop();
    }

    /// <summary>Tests the current parameters (untimed) and notes the first time the target is met.</summary>
    public void Evaluate()
    {
        Accuracy = testAccuracy();
        if (Reached is null && Accuracy >= target)
        {
            Reached = (TrainSeconds, Steps);
        }
    }
}

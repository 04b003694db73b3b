using CnnCluster.Engine.Kernels;
using System.Globalization;

namespace CnnCluster.Engine.Optim;

/// <summary>
/// The learning rate at a step: constant, step decay (×gamma every N epochs) or cosine annealing to
/// zero over the run, each with an optional linear warm-up. Parsed from "constant", "cosine",
/// "step:EPOCHS:GAMMA" (e.g. "step:2:0.1").
/// </summary>
public sealed record LearningRateSchedule(string Kind, int StepEpochs = 1, double Gamma = 0.1, int WarmupSteps = 0)
{
    public static LearningRateSchedule Constant { get; } = new("constant");

    public static LearningRateSchedule Parse(string text, int warmupSteps = 0)
    {
        string[] parts = text.Trim().ToLowerInvariant().Split(':');
        switch (parts[0])
        {
            case "constant" when parts.Length == 1:
                return new LearningRateSchedule("constant", WarmupSteps: warmupSteps);
            case "cosine" when parts.Length == 1:
                return new LearningRateSchedule("cosine", WarmupSteps: warmupSteps);
            case "step" when parts.Length == 3
                             && int.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out int every) && every > 0
                             && double.TryParse(parts[2], NumberStyles.Float, CultureInfo.InvariantCulture, out double gamma) && gamma > 0 && gamma <= 1:
                return new LearningRateSchedule("step", every, gamma, warmupSteps);
            default:
                throw new FormatException($"schedule '{text}' is not one of: constant, cosine, step:EPOCHS:GAMMA (e.g. step:2:0.1, gamma in (0, 1])");
        }
    }

    /// <summary>The rate for (0-based) step <paramref name="step"/> of <paramref name="totalSteps"/>.</summary>
    public double At(double baseRate, long step, long totalSteps, int stepsPerEpoch)
    {
        double rate = Kind switch
        {
            // the engine's own cosine and an integer power: the rate has the same bits on every machine (numeric contract)
            "cosine" => baseRate * 0.5 * (1 + DoubleMath.CosPi(Math.Min(1.0, (double)step / Math.Max(1, totalSteps)))),
            "step" => baseRate * DoubleMath.Power(Gamma, step / Math.Max(1, stepsPerEpoch) / StepEpochs),
            _ => baseRate,
        };
        if (WarmupSteps > 0 && step < WarmupSteps)
        {
            rate *= (step + 1.0) / WarmupSteps;
        }

        return rate;
    }

    public override string ToString() => Kind == "step" ? $"step:{StepEpochs}:{Gamma.ToString(CultureInfo.InvariantCulture)}" : Kind;
}

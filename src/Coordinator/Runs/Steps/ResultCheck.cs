using System.IO.Hashing;
using CnnCluster.Engine.Kernels;
using System.Runtime.InteropServices;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Runs.Steps;

/// <summary>
/// What the coordinator checks of a worker's result before it counts: the gradient has the model's
/// length, and the loss and every gradient value are finite. A faulty machine's NaN would otherwise be
/// summed into the step and end the run as "diverged", blaming the learning rate. Finite garbage passes
/// these checks; --verify catches it by computing nodes twice (<see cref="Digest"/>).
/// </summary>
public static class ResultCheck
{
    /// <summary>Why the result cannot count, or null.</summary>
    public static string? Problem(NodeResult r, int parameters)
    {
        if (r.Gradient is null || r.Gradient.Length != parameters)
        {
            return $"its gradient has {r.Gradient?.Length ?? 0} values, the model has {parameters}";
        }

        if (!double.IsFinite(r.LossSum))
        {
            return $"its loss is {r.LossSum}";
        }

        if (Finite.FirstNotFinite(r.Gradient) is int at and >= 0)
        {
            return $"its gradient value {at} is {r.Gradient[at]}";
        }

        return null;
    }

    /// <summary>
    /// True when the result has the model's length but a loss or gradient value that is not finite: a faulty
    /// machine's, or every machine's when the training diverges (the coordinator tells which, <see cref="StarExecution{TWorker}"/>).
    /// </summary>
    public static bool NotFinite(NodeResult r, int parameters) =>
        r.Gradient?.Length == parameters && (!double.IsFinite(r.LossSum) || Finite.FirstNotFinite(r.Gradient) >= 0);

    /// <summary>A 64-bit digest of the result's bits (gradient and loss): equal results have equal digests.</summary>
    public static ulong Digest(NodeResult r)
    {
        var hash = new XxHash3();
        hash.Append(MemoryMarshal.AsBytes(r.Gradient.AsSpan()));
        Span<byte> loss = stackalloc byte[8];
        BitConverter.TryWriteBytes(loss, BitConverter.DoubleToInt64Bits(r.LossSum));
        hash.Append(loss);
        return hash.GetCurrentHashAsUInt64();
    }
}

using System.Globalization;
using CnnCluster.Shared.Protocol;
using CnnCluster.Worker;

namespace CnnCluster.FaultyWorker;

/// <summary>
/// The worker, with every Nth result it sends broken as a faulty machine would break it:
/// FAULT=nan:N (one gradient value NaN), infinite-loss:N, short:N (one value missing), perturb:N (one
/// value off by 1e-3, finite and plausible: only --verify can tell); or every Nth replica state a sharded run
/// asks of it poisoned, FAULT=poison-state:N (one parameter off by 1e-3: a snapshot or a joining worker would
/// take it); or every Nth sum of the slice it owns in a sharded run forged, FAULT=forge-sum:N (0.01 added to every
/// value before it applies, reports and sends it: a member that lies about its slice); or FAULT=hostile:1, a member
/// that also tries every attack on its peers (<see cref="HostileMember"/>). Everything else is the real worker.
/// </summary>
public static class Program
{
    public static Task<int> Main(string[] args)
    {
        string fault = Environment.GetEnvironmentVariable("FAULT") ?? throw new ArgumentException("FAULT=kind:N is not set");
        string kind = fault[..fault.IndexOf(':')];
        int every = int.Parse(fault[(fault.IndexOf(':') + 1)..], CultureInfo.InvariantCulture);
        long results = 0;
        if (kind == "poison-state")
        {
            ResultFaults.State = s =>
            {
                if (Interlocked.Increment(ref results) % every != 0)
                {
                    return s;
                }

                Console.Error.WriteLine($"fault: poisoned state after step {s.Step}");
                float[] p = (float[])s.Parameters.Clone();
                p[p.Length / 2] += 1e-3f;
                return s with { Parameters = p };
            };
            return CnnCluster.Worker.Program.Main(args);
        }

        if (kind == "hostile")
        {
            HostileMember.Install();
            return CnnCluster.Worker.Program.Main(args);
        }

        if (kind == "forge-sum")
        {
            ResultFaults.Sum = s =>
            {
                if (Interlocked.Increment(ref results) % every != 0)
                {
                    return s;
                }

                Console.Error.WriteLine($"fault: forged the sum of slice {s.Slice} at step {s.Ref.Step}");
                return s with { Values = s.Values.Select(v => v + 0.01f).ToArray() };
            };
            return CnnCluster.Worker.Program.Main(args);
        }

        ResultFaults.Apply = r =>
        {
            if (Interlocked.Increment(ref results) % every != 0)
            {
                return r;
            }

            Console.Error.WriteLine($"fault: {kind} in node {r.Node} of step {r.Step}");
            return Break(r, kind);
        };
        return CnnCluster.Worker.Program.Main(args);
    }

    /// <summary>The result made wrong the way a faulty machine would: nan, infinite-loss, short, or perturb.</summary>
    public static NodeResult Break(NodeResult r, string kind)
    {
        float[] g = (float[])r.Gradient.Clone();
        switch (kind)
        {
            case "nan":
                g[g.Length / 2] = float.NaN;
                return r with { Gradient = g };
            case "infinite-loss":
                return r with { LossSum = double.PositiveInfinity };
            case "short":
                return r with { Gradient = g[..^1] };
            case "perturb":
                g[g.Length / 3] += 1e-3f;
                return r with { Gradient = g };
            default:
                throw new ArgumentException($"FAULT kind '{kind}' is not one of nan, infinite-loss, short, perturb");
        }
    }
}

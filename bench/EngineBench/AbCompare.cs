using System.Diagnostics;
using System.Globalization;

namespace CnnCluster.Bench.Engine;

/// <summary>
/// This build's layer kernels against another build's (<c>--ab BASELINE/EngineBench.dll</c>; scripts/engine-ab.sh builds
/// one from a revision): both run <c>--kernels-only</c> as child processes, one at a time, in ABBA order round after round,
/// and each layer's forward and backward is quoted as the median of its per-round ratios baseline/this with their range.
/// On a shared machine a layer's time moves by a third between minutes while the ratio of neighbouring runs holds.
/// </summary>
public static class AbCompare
{
    public static int Run(string baselineDll, string model, int rounds)
    {
        string self = typeof(AbCompare).Assembly.Location;
        if (!File.Exists(baselineDll))
        {
            Console.Error.WriteLine($"error: --ab '{baselineDll}' does not exist; give a built EngineBench.dll (scripts/engine-ab.sh REV builds one)");
            return 2;
        }

        Console.WriteLine($"A/B of {model}'s layers (1 thread, micro-shard of 8): this build against {baselineDll}, {rounds} rounds, ABBA order");
        var baseline = new List<Dictionary<string, (double Fwd, double Bwd)>>();
        var current = new List<Dictionary<string, (double Fwd, double Bwd)>>();
        List<string> order = [];
        for (int round = 0; round < rounds; round++)
        {
            bool baselineFirst = round % 2 == 0;
            for (int turn = 0; turn < 2; turn++)
            {
                bool isBaseline = baselineFirst == (turn == 0);
                var times = Layers(isBaseline ? baselineDll : self, model, out List<string> names);
                if (times is null)
                {
                    return 1;
                }

                (isBaseline ? baseline : current).Add(times);
                order = names;
            }

            Console.Error.Write($"\rround {round + 1}/{rounds}");
        }

        Console.Error.WriteLine();
        Console.WriteLine($"  {"layer",-36} {"fwd µs base",11} {"this",8} {"base/this",9} {"(range)",13}   {"bwd µs base",11} {"this",8} {"base/this",9} {"(range)",13}");
        foreach (string name in order.Where(n => baseline.All(b => b.ContainsKey(n)) && current.All(c => c.ContainsKey(n))))
        {
            Console.WriteLine($"  {name,-36} {Column(baseline, current, name, forward: true)}   {Column(baseline, current, name, forward: false)}");
        }

        return 0;
    }

    // median times of both builds, the median of the per-round ratios and their range
    private static string Column(List<Dictionary<string, (double Fwd, double Bwd)>> baseline, List<Dictionary<string, (double Fwd, double Bwd)>> current, string name, bool forward)
    {
        double Pick((double Fwd, double Bwd) t) => forward ? t.Fwd : t.Bwd;
        double[] b = baseline.Select(r => Pick(r[name])).ToArray(), c = current.Select(r => Pick(r[name])).ToArray();
        double[] ratios = b.Zip(c, (x, y) => y > 0 ? x / y : double.NaN).Where(double.IsFinite).ToArray();
        if (ratios.Length == 0)
        {
            return $"{Median(b),11:F1} {Median(c),8:F1} {"",9} {"",13}";
        }

        return $"{Median(b),11:F1} {Median(c),8:F1} {Median(ratios),9:F2} {$"({ratios.Min():F2}–{ratios.Max():F2})",13}";
    }

    private static double Median(double[] values)
    {
        double[] sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    /// <summary>
    /// One child run's layer rows (µs per call): a conv and dense row holds forward µs, GFLOP/s, %peak, backward µs,
    /// GFLOP/s, %peak; any other row (and a conv's "with relu, pool: a stage" row) forward and backward µs.
    /// </summary>
    private static Dictionary<string, (double Fwd, double Bwd)>? Layers(string dll, string model, out List<string> names)
    {
        names = [];
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in new[] { dll, "--kernels-only", "--layers-of", model })
        {
            start.ArgumentList.Add(a);
        }

        using Process child = Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start");
        Task<string> error = child.StandardError.ReadToEndAsync();
        string output = child.StandardOutput.ReadToEnd();
        child.WaitForExit();
        if (child.ExitCode != 0)
        {
            Console.Error.WriteLine($"error: {Path.GetFileName(dll)} --kernels-only exited with {child.ExitCode}: {error.Result.Trim().Split('\n').LastOrDefault()}");
            return null;
        }

        var times = new Dictionary<string, (double, double)>();
        bool table = false;
        foreach (string line in output.Split('\n'))
        {
            if (line.StartsWith("  layer", StringComparison.Ordinal))
            {
                table = true;
                continue;
            }

            if (!table || line.Length < 31 || !line.StartsWith("  ", StringComparison.Ordinal))
            {
                table &= !line.StartsWith("verdict", StringComparison.Ordinal);
                continue;
            }

            string name = line.Substring(2, 28).Trim();
            string[] tokens = line[30..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            int bwdAt = tokens.Length >= 6 ? 3 : 1;
            if (tokens.Length < 2 || !double.TryParse(tokens[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double fwd)
                || !double.TryParse(tokens[bwdAt], NumberStyles.Float, CultureInfo.InvariantCulture, out double bwd))
            {
                continue;
            }

            name = $"{names.Count + 1,2} {name}"; // rows in order: the same layers in both builds
            times[name] = (fwd, bwd);
            names.Add(name);
        }

        return times;
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace CnnCluster.Bench.Engine;

/// <summary>
/// This build's layer kernels against another build's (<c>--ab BASELINE/EngineBench.dll</c>; scripts/engine-ab.sh builds
/// one from a revision), and each layer's forward and backward quoted as the median of its per-round ratios
/// baseline/this with their range. Both builds stay resident as <see cref="LayerServer"/>s, one timing while the other
/// waits, and alternate layer by layer (ABBA): on a shared machine a layer's time moves by a third between minutes, while
/// two timings a fraction of a second apart move together. A baseline from before the server existed is run whole
/// (<c>--kernels-only</c>), alternating run by run, which such a machine resolves far more coarsely.
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

        // a build with the server holds its flag as a user string (UTF-16) in its metadata
        bool resident = File.ReadAllBytes(baselineDll).AsSpan().IndexOf(Encoding.Unicode.GetBytes(LayerServer.Flag)) >= 0;
        Console.WriteLine($"A/B of {model}'s layers (1 thread, micro-shard of 8): this build against {baselineDll}, {rounds} rounds, ABBA "
            + (resident ? "layer by layer (both builds resident)" : "run by run (the baseline has no layer server)"));
        var baseline = new Samples();
        var current = new Samples();
        List<string>? names;
        try
        {
            names = resident ? Resident(baselineDll, self, model, rounds, baseline, current) : Whole(baselineDll, self, model, rounds, baseline, current);
        }
        catch (Exception e) when (e is InvalidOperationException or IOException)
        {
            Console.Error.WriteLine($"error: a build stopped answering ({e.Message}); run each alone with --kernels-only to see why");
            return 1;
        }

        if (names is null)
        {
            return 1;
        }

        Console.WriteLine($"  {"layer",-36} {"fwd µs base",11} {"this",8} {"base/this",9} {"(range)",13}   {"bwd µs base",11} {"this",8} {"base/this",9} {"(range)",13}");
        for (int i = 0; i < names.Count; i++)
        {
            Console.WriteLine($"  {$"{i + 1,2} {names[i]}",-36} {Column(baseline[(i, true)], current[(i, true)])}   {Column(baseline[(i, false)], current[(i, false)])}");
        }

        return 0;
    }

    /// <summary>Seconds per call by (row, forward): one entry per round.</summary>
    private sealed class Samples : Dictionary<(int Row, bool Forward), List<double>>
    {
        public void Add(int row, bool forward, double seconds)
        {
            if (!TryGetValue((row, forward), out List<double>? list))
            {
                this[(row, forward)] = list = [];
            }

            list.Add(seconds);
        }
    }

    private static List<string>? Resident(string baselineDll, string self, string model, int rounds, Samples baseline, Samples current)
    {
        using var a = LayerClient.Start(baselineDll, model);
        using var b = LayerClient.Start(self, model);
        if (a.Names is null || b.Names is null)
        {
            Console.Error.WriteLine($"error: a layer server did not start: {(a.Names is null ? a.Error : b.Error)}");
            return null;
        }

        if (!a.Names.SequenceEqual(b.Names))
        {
            Console.Error.WriteLine($"error: the two builds have different layers for {model} ({a.Names.Count} and {b.Names.Count} rows); compare builds of the same model");
            return null;
        }

        for (int round = 0; round < rounds; round++)
        {
            for (int row = 0; row < a.Names.Count; row++)
            {
                foreach (bool forward in new[] { true, false })
                {
                    bool baselineFirst = (round + row) % 2 == 0;
                    for (int turn = 0; turn < 2; turn++)
                    {
                        bool isBaseline = baselineFirst == (turn == 0);
                        double seconds = (isBaseline ? a : b).Time(row, forward);
                        (isBaseline ? baseline : current).Add(row, forward, seconds);
                    }
                }
            }

            Console.Error.Write($"\rround {round + 1}/{rounds}");
        }

        Console.Error.WriteLine();
        return a.Names;
    }

    private static List<string>? Whole(string baselineDll, string self, string model, int rounds, Samples baseline, Samples current)
    {
        List<string>? names = null;
        for (int round = 0; round < rounds; round++)
        {
            for (int turn = 0; turn < 2; turn++)
            {
                bool isBaseline = (round % 2 == 0) == (turn == 0);
                List<(string Name, double Fwd, double Bwd)>? rows = KernelsOnly(isBaseline ? baselineDll : self, model);
                if (rows is null || (names is not null && !names.SequenceEqual(rows.Select(r => r.Name))))
                {
                    Console.Error.WriteLine(rows is null ? "error: a --kernels-only run failed" : $"error: the two builds have different layers for {model}");
                    return null;
                }

                names = rows.Select(r => r.Name).ToList();
                for (int row = 0; row < rows.Count; row++)
                {
                    (isBaseline ? baseline : current).Add(row, true, rows[row].Fwd / 1e6);
                    (isBaseline ? baseline : current).Add(row, false, rows[row].Bwd / 1e6);
                }
            }

            Console.Error.Write($"\rround {round + 1}/{rounds}");
        }

        Console.Error.WriteLine();
        return names;
    }

    // median times of both builds (µs), the median of the per-round ratios and their range
    private static string Column(List<double> b, List<double> c)
    {
        double[] ratios = b.Zip(c, (x, y) => y > 0 ? x / y : double.NaN).Where(double.IsFinite).ToArray();
        string times = $"{Median(b) * 1e6,11:F1} {Median(c) * 1e6,8:F1}";
        return ratios.Length == 0 ? $"{times} {"",9} {"",13}" : $"{times} {Median(ratios),9:F2} {$"({ratios.Min():F2}–{ratios.Max():F2})",13}";
    }

    private static double Median(IEnumerable<double> values)
    {
        double[] sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    /// <summary>
    /// One whole <c>--kernels-only</c> run's layer rows (µs per call): a conv and dense row holds forward µs, GFLOP/s,
    /// %peak, backward µs, GFLOP/s, %peak; any other row (and a conv's stage row) forward and backward µs.
    /// </summary>
    private static List<(string Name, double Fwd, double Bwd)>? KernelsOnly(string dll, string model)
    {
        using Process child = LayerClient.Launch(dll, "--kernels-only", "--layers-of", model);
        Task<string> error = child.StandardError.ReadToEndAsync();
        string output = child.StandardOutput.ReadToEnd();
        child.WaitForExit();
        if (child.ExitCode != 0)
        {
            Console.Error.WriteLine($"error: {Path.GetFileName(dll)} --kernels-only exited with {child.ExitCode}: {error.Result.Trim().Split('\n').LastOrDefault()}");
            return null;
        }

        var rows = new List<(string, double, double)>();
        bool table = false;
        foreach (string line in output.Split('\n'))
        {
            table = !line.StartsWith("verdict", StringComparison.Ordinal) && (table || line.StartsWith("  layer", StringComparison.Ordinal));
            if (!table || line.Length < 31 || line.StartsWith("  layer", StringComparison.Ordinal))
            {
                continue;
            }

            string[] tokens = line[30..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (tokens.Length >= 2 && double.TryParse(tokens[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double fwd)
                && double.TryParse(tokens[tokens.Length >= 6 ? 3 : 1], NumberStyles.Float, CultureInfo.InvariantCulture, out double bwd))
            {
                rows.Add((line.Substring(2, 28).Trim(), fwd, bwd));
            }
        }

        return rows;
    }
}

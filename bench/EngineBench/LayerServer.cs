using System.Globalization;
using CnnCluster.Engine.Models;

namespace CnnCluster.Bench.Engine;

/// <summary>
/// <c>EngineBench --serve-layers MODEL</c>: the rows of <see cref="LayerTimes"/> kept ready in this process and timed
/// on request, so that <see cref="AbCompare"/> can alternate two builds layer by layer instead of run by run. It writes
/// "items K", the K row names and "ready", then answers each line "f I" or "b I" (forward or backward of row I) with
/// the seconds per call, until "q" or the end of its input.
/// </summary>
public static class LayerServer
{
    public const string Flag = "--serve-layers";

    public static int Run(ModelSpec model)
    {
        List<LayerTimes.Item> items = LayerTimes.Items(Network.Build(model), 8);
        Console.WriteLine($"items {items.Count}");
        foreach (LayerTimes.Item item in items)
        {
            Console.WriteLine(item.Name.Trim());
        }

        Console.WriteLine("ready");
        while (Console.ReadLine() is string line && line != "q")
        {
            string[] parts = line.Split(' ');
            if (parts.Length != 2 || parts[0] is not ("f" or "b") || !int.TryParse(parts[1], out int i) || i < 0 || i >= items.Count)
            {
                Console.WriteLine($"error: '{line}' is not 'f I' or 'b I' with I below {items.Count}");
                continue;
            }

            double seconds = LayerTimes.Time(parts[0] == "f" ? items[i].Forward : items[i].Backward);
            Console.WriteLine(seconds.ToString("R", CultureInfo.InvariantCulture));
        }

        return 0;
    }
}

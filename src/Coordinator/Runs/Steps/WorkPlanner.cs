using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Runs.Steps;

/// <summary>
/// Cuts a step's micro-shards 0..M-1 into contiguous ranges, one per worker in proportion to its
/// threads, and each range into the fewest aligned tree nodes (so a worker pre-reduces its range and
/// sends one or two gradients, not one per micro-shard).
/// </summary>
public static class WorkPlanner
{
    /// <summary>Ranges [First, First + Count) per worker, in worker order; workers beyond M get none.</summary>
    public static IReadOnlyList<(int Worker, int First, int Count)> Split(int microShards, IReadOnlyList<int> threads)
    {
        var result = new List<(int, int, int)>();
        long total = threads.Sum(t => (long)Math.Max(1, t));
        int first = 0;
        long cumulative = 0;
        for (int w = 0; w < threads.Count && first < microShards; w++)
        {
            cumulative += Math.Max(1, threads[w]);
            int end = w == threads.Count - 1 ? microShards : (int)Math.Round((double)microShards * cumulative / total);
            end = Math.Clamp(end, first + 1, microShards);
            result.Add((w, first, end - first));
            first = end;
        }

        return result;
    }

    /// <summary>
    /// The aligned nodes covering micro-shards [first, first + count) of a tree with M leaves: at each
    /// position the largest node that is aligned there and stays inside the range (a node reaching
    /// past M counts as ending at M).
    /// </summary>
    public static IReadOnlyList<TreeNode> Decompose(int first, int count, int microShards)
    {
        var nodes = new List<TreeNode>();
        int end = first + count;
        int position = first;
        while (position < end)
        {
            int level = 0;
            while (true)
            {
                int next = level + 1;
                bool aligned = position % (1 << next) == 0;
                int nodeEnd = Math.Min(position + (1 << next), microShards);
                if (!aligned || nodeEnd > end || (1 << next) > 2 * microShards)
                {
                    break;
                }

                level = next;
            }

            nodes.Add(new TreeNode(position, level));
            position = Math.Min(position + (1 << level), microShards);
        }

        return nodes;
    }
}

namespace CnnCluster.Coordinator.Persistence;

/// <summary>What kind of store failure an exception is, in a user's words.</summary>
public enum StoreFailureKind
{
    DiskFull,
    ReadOnly,
    Unreachable,
    Other,
}

/// <summary>Names a journal or snapshot store failure ("disk full", "read-only", "unreachable") for a run's status.</summary>
public static class StoreFailure
{
    public static StoreFailureKind Classify(Exception e)
    {
        string text = string.Join(" | ", Chain(e).Select(x => x.Message)).ToLowerInvariant();
        if (text.Contains("disk is full") || text.Contains("no space left") || text.Contains("could not extend file") || text.Contains("disk full"))
        {
            return StoreFailureKind.DiskFull;
        }

        if (text.Contains("readonly") || text.Contains("read-only") || text.Contains("read only"))
        {
            return StoreFailureKind.ReadOnly;
        }

        return Chain(e).Any(x => x is System.Net.Sockets.SocketException or TimeoutException or System.IO.IOException)
               || text.Contains("connection") || text.Contains("unable to open") || text.Contains("timeout") || text.Contains("circuit breaker")
            ? StoreFailureKind.Unreachable
            : StoreFailureKind.Other;
    }

    /// <summary>One line: the kind and the innermost message.</summary>
    public static string Describe(Exception e)
    {
        string kind = Classify(e) switch
        {
            StoreFailureKind.DiskFull => "disk full",
            StoreFailureKind.ReadOnly => "the store is read-only",
            StoreFailureKind.Unreachable => "the store is unreachable",
            _ => "the store failed",
        };
        return $"{kind} ({Chain(e).Last().Message.ReplaceLineEndings(" ")})";
    }

    private static IEnumerable<Exception> Chain(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            yield return x;
        }
    }
}

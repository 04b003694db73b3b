using CnnCluster.Shared.Protocol;

namespace CnnCluster.Worker.Sharded;

/// <summary>A part or sum of a step and the member that sent it (the endpoint its connection proved).</summary>
public readonly record struct PeerSlice(ISliceMessage Message, string From);

/// <summary>
/// Slices that came early. A run's members get their <see cref="ReplicaInit"/> each on its own connection, and a
/// fast member plans, computes and sends its first slices while a slower one is still making its replica (peer
/// links outlive runs, so from the second run on they are already open): dropped, those slices cost the step its
/// exchange deadline. The same holds within a run for a step whose plan has not come yet. They are held here, in
/// arrival order, until their replica or plan — bounded: at most <paramref name="maxBytes"/> of values and
/// <paramref name="maxCount"/> messages in all (the oldest go first), none older than <see cref="MaxAge"/>, and only
/// a run's newest incarnation. Pure; time is an argument.
/// </summary>
public sealed class EarlySlices(long maxBytes = EarlySlices.DefaultMaxBytes, int maxCount = EarlySlices.DefaultMaxCount)
{
    /// <summary>Messages held at most: a step's parts and sums from every member of a large cluster, with room.</summary>
    public const int DefaultMaxCount = 4096;

    /// <summary>A step's worth of slices of the largest model a spec may have.</summary>
    public const long DefaultMaxBytes = 4 * Engine.Models.ModelBudget.MaxParameters;

    /// <summary>A replica comes within a step's exchange deadline or not at all.</summary>
    public static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(30);

    private readonly LinkedList<(PeerSlice Slice, long Bytes, DateTime At)> _held = new();

    /// <summary>The bytes held now.</summary>
    public long Bytes { get; private set; }

    /// <summary>The messages held now.</summary>
    public int Count => _held.Count;

    /// <summary>Holds <paramref name="slice"/> (a part or sum for a run with no replica of its incarnation).</summary>
    public void Hold(PeerSlice slice, DateTime now)
    {
        Expire(now);
        StepRef key = slice.Message.Ref;
        long bytes = 4L * (slice.Message.Values?.Length ?? 0);
        // a newer incarnation of the run makes the older one's slices pointless; a message of an older one is
        Remove(r => r.RunId == key.RunId && r.Incarnation < key.Incarnation);
        if (_held.Any(h => h.Slice.Message.Ref.RunId == key.RunId && h.Slice.Message.Ref.Incarnation > key.Incarnation))
        {
            return;
        }

        if (bytes > maxBytes)
        {
            return;
        }

        while (Bytes + bytes > maxBytes || _held.Count >= maxCount)
        {
            Bytes -= _held.First!.Value.Bytes;
            _held.RemoveFirst();
        }

        _held.AddLast((slice, bytes, now));
        Bytes += bytes;
    }

    /// <summary>The held messages of <paramref name="runId"/>'s incarnation <paramref name="incarnation"/> in arrival order; the run's others are dropped.</summary>
    public IReadOnlyList<PeerSlice> Take(string runId, long incarnation, DateTime now)
    {
        Expire(now);
        List<PeerSlice> taken = [.. _held.Where(h => h.Slice.Message.Ref.Of(runId, incarnation)).Select(h => h.Slice)];
        Remove(r => r.RunId == runId);
        return taken;
    }

    /// <summary>
    /// The held messages of <paramref name="key"/>'s run and incarnation up to its step (in arrival order: those of
    /// that very step, and older ones the caller drops); the later ones stay for their plans.
    /// </summary>
    public IReadOnlyList<PeerSlice> TakeUpTo(StepRef key, DateTime now)
    {
        Expire(now);
        List<PeerSlice> taken = [.. _held.Where(h => h.Slice.Message.Ref.Of(key.RunId, key.Incarnation) && !(h.Slice.Message.Ref > key)).Select(h => h.Slice)];
        Remove(r => r.Of(key.RunId, key.Incarnation) && !(r > key));
        return taken;
    }

    private void Expire(DateTime now)
    {
        while (_held.First is { } first && now - first.Value.At > MaxAge)
        {
            Bytes -= first.Value.Bytes;
            _held.RemoveFirst();
        }
    }

    private void Remove(Func<StepRef, bool> which)
    {
        for (var n = _held.First; n is not null;)
        {
            var next = n.Next;
            if (which(n.Value.Slice.Message.Ref))
            {
                Bytes -= n.Value.Bytes;
                _held.Remove(n);
            }

            n = next;
        }
    }
}

using Akka.Actor;
using CnnCluster.Shared.Protocol;
using CnnCluster.Shared.Serialization;

namespace CnnCluster.Shared.Transport;

/// <summary>
/// Sends the large protocol messages (parameters, gradients) to a remote actor as <see cref="Chunk"/>s of
/// our serializer's bytes, at most 1 MiB each, so no frame exceeds Akka.Remote's maximum frame size and
/// the message is serialized exactly once. Local targets get the message itself (nothing is serialized
/// in-process).
/// </summary>
public static class Chunking
{
    public const int ChunkSize = 1 << 20;

    /// <summary>Akka.Remote's frame limit: a chunk plus headers, with room to spare.</summary>
    public const long MaximumFrameSize = 4L << 20;

    private static long _nextTransfer = DateTime.UtcNow.Ticks;

    /// <summary>
    /// Sends <paramref name="message"/> to <paramref name="target"/>. A remote target gets the bytes of our
    /// serializer in one or more <see cref="Chunk"/>s, serialized here and now, so the caller may reuse
    /// the message's buffers as soon as this returns. Returns the bytes that went on the wire (0 when local).
    /// </summary>
    public static long Tell(ActorSystem system, IActorRef target, IProtocolMessage message, IActorRef sender)
    {
        if (target.Path.Address.HasLocalScope)
        {
            target.Tell(message, sender);
            return 0;
        }

        var serializer = (ProtocolSerializer)system.Serialization.FindSerializerFor(message);
        byte[] bytes = serializer.ToBinary(message);
        string manifest = serializer.Manifest(message);
        long transfer = Interlocked.Increment(ref _nextTransfer);
        int count = Math.Max(1, (bytes.Length + ChunkSize - 1) / ChunkSize);
        for (int i = 0; i < count; i++)
        {
            int offset = i * ChunkSize;
            byte[] payload = count == 1 ? bytes : bytes[offset..Math.Min(bytes.Length, offset + ChunkSize)];
            target.Tell(new Chunk(transfer, i, count, manifest, payload), sender);
        }

        return bytes.Length;
    }
}

/// <summary>
/// Reassembles <see cref="Chunk"/>s into the original message. Chunks of one transfer come from one
/// sender in order (Akka's per-pair ordering), so each sender has at most one open transfer; transfers
/// left incomplete by dead senders are evicted once more than <see cref="MaxOpenTransfers"/> are open.
/// The sender's count is not trusted: a transfer announcing more than <paramref name="maxMessageBytes"/>
/// (the largest message its owner expects) or a chunk over <see cref="Chunking.ChunkSize"/> is dropped
/// before anything is kept.
/// </summary>
public sealed class ChunkAssembler(ActorSystem system, long maxMessageBytes)
{
    public const int MaxOpenTransfers = 256;

    private readonly ActorSystem _system = system;
    private readonly Dictionary<(string Sender, long Transfer), Partial> _open = new();

    /// <summary>Bytes of every open transfer together at most: two messages of the largest size, whoever sends them.</summary>
    public long MaxHeldBytes { get; } = 2 * maxMessageBytes;

    /// <summary>Bytes of the chunks held now, in every open transfer.</summary>
    public long HeldBytes { get; private set; }

    /// <summary>Transfers dropped for their announced size or a chunk's size.</summary>
    public long Refused { get; private set; }

    /// <summary>Adds a chunk; returns the whole message once its last chunk has arrived, else null.</summary>
    public object? Add(Chunk chunk, IActorRef sender)
    {
        var key = (sender.Path.ToString(), chunk.TransferId);
        if (chunk.Count < 1 || (long)chunk.Count * Chunking.ChunkSize > maxMessageBytes + Chunking.ChunkSize || chunk.Payload is null || chunk.Payload.Length > Chunking.ChunkSize)
        {
            Close(key);
            Refused++;
            return null;
        }

        if (!_open.TryGetValue(key, out Partial? partial))
        {
            if (chunk.Index != 0)
            {
                return null; // the start of this transfer was lost: nothing to assemble
            }

            // a sender's transfers arrive one after the other: a new one ends any partial one of it
            foreach (var stale in _open.Keys.Where(k => k.Sender == key.Item1).ToList())
            {
                Close(stale);
            }

            if (_open.Count >= MaxOpenTransfers)
            {
                Close(_open.MinBy(kv => kv.Value.Opened).Key);
            }

            partial = new Partial(chunk.Count, chunk.Manifest, Environment.TickCount64);
            _open[key] = partial;
        }

        if (chunk.Index != partial.Parts.Count || chunk.Count != partial.Count)
        {
            Close(key);
            return null;
        }

        // all senders' transfers together stay within MaxHeldBytes: the oldest others go first, then this one
        while (HeldBytes + chunk.Payload.Length > MaxHeldBytes && _open.Keys.Where(k => k != key).ToList() is { Count: > 0 } others)
        {
            Close(others.MinBy(k => _open[k].Opened));
        }

        if (HeldBytes + chunk.Payload.Length > MaxHeldBytes)
        {
            Close(key);
            Refused++;
            return null;
        }

        partial.Parts.Add(chunk.Payload);
        partial.Bytes += chunk.Payload.Length;
        HeldBytes += chunk.Payload.Length;
        if (partial.Parts.Count < partial.Count)
        {
            return null;
        }

        Close(key);
        byte[] bytes = partial.Parts.Count == 1 ? partial.Parts[0] : Concat(partial.Parts);
        return _system.Serialization.Deserialize(bytes, ProtocolSerializer.Id, partial.Manifest);
    }

    public int OpenTransfers => _open.Count;

    private void Close((string Sender, long Transfer) key)
    {
        if (_open.Remove(key, out Partial? partial))
        {
            HeldBytes -= partial.Bytes;
        }
    }

    private static byte[] Concat(List<byte[]> parts)
    {
        byte[] bytes = new byte[parts.Sum(p => p.Length)];
        int offset = 0;
        foreach (byte[] p in parts)
        {
            p.CopyTo(bytes, offset);
            offset += p.Length;
        }

        return bytes;
    }

    private sealed record Partial(int Count, string Manifest, long Opened)
    {
        public List<byte[]> Parts { get; } = new();

        public long Bytes { get; set; }
    }
}

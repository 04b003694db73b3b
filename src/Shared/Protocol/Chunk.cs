using MessagePack;

namespace CnnCluster.Shared.Protocol;

/// <summary>
/// One piece of a protocol message too large for one Akka.Remote frame: the message's bytes (from our
/// serializer) cut into pieces of at most <see cref="Transport.Chunking.ChunkSize"/>.
/// </summary>
[MessagePackObject]
public sealed record Chunk(
    [property: Key(0)] long TransferId,
    [property: Key(1)] int Index,
    [property: Key(2)] int Count,
    [property: Key(3)] string Manifest,
    [property: Key(4)] byte[] Payload) : IProtocolMessage;

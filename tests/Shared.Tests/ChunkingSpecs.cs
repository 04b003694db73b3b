using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Configuration;
using Akka.Serialization;
using CnnCluster.Shared.Protocol;
using CnnCluster.Shared.Serialization;
using CnnCluster.Shared.Transport;
using Xunit;

namespace CnnCluster.Shared.Tests;

/// <summary>Large messages cut into chunks and put back together, and what happens to broken transfers.</summary>
public sealed class ChunkingSpecs : Akka.TestKit.Xunit2.TestKit
{
    public ChunkingSpecs()
        : base(ProtocolSystem.Create("chunks"))
    {
    }

    [Fact]
    public void A20MegabyteGradientIsCutAndReassembled()
    {
        var gradient = new float[5_000_000];
        for (int i = 0; i < gradient.Length; i += 997)
        {
            gradient[i] = i;
        }

        var message = new NodeResult("r", 1, 2, new TreeNode(0, 3), 4.5, gradient, 1);
        (IReadOnlyList<Chunk> chunks, long bytes) = Cut(message);
        Assert.Equal(20, chunks.Count);
        Assert.All(chunks, c => Assert.True(c.Payload.Length <= Chunking.ChunkSize));
        Assert.True(bytes > 20_000_000);

        var assembler = new ChunkAssembler(Sys, 64L << 20);
        object? whole = null;
        foreach (Chunk c in chunks)
        {
            Assert.Null(whole);
            whole = assembler.Add(c, TestActor);
        }

        var back = Assert.IsType<NodeResult>(whole);
        Assert.Equal(gradient, back.Gradient);
        Assert.Equal(0, assembler.OpenTransfers);
    }

    [Fact]
    public void ATransferMissingItsStartOrAMiddleChunkIsDropped()
    {
        var message = new NodeResult("r", 1, 2, new TreeNode(0, 3), 4.5, new float[700_000], 1);
        (IReadOnlyList<Chunk> chunks, _) = Cut(message);
        Assert.Equal(3, chunks.Count);
        var assembler = new ChunkAssembler(Sys, 64L << 20);
        Assert.Null(assembler.Add(chunks[1], TestActor));
        Assert.Null(assembler.Add(chunks[2], TestActor));
        Assert.Equal(0, assembler.OpenTransfers);

        Assert.Null(assembler.Add(chunks[0], TestActor));
        Assert.Null(assembler.Add(chunks[2], TestActor));
        Assert.Equal(0, assembler.OpenTransfers);
    }

    [Fact]
    public void AbandonedTransfersAreEvicted()
    {
        var assembler = new ChunkAssembler(Sys, 64L << 20);
        for (int i = 0; i < ChunkAssembler.MaxOpenTransfers + 5; i++)
        {
            assembler.Add(new Chunk(i, 0, 2, nameof(NodeResult), [1]), CreateTestProbe().Ref);
        }

        Assert.Equal(ChunkAssembler.MaxOpenTransfers, assembler.OpenTransfers);
    }

    [Fact]
    public void ATransferAnnouncingMoreThanTheLargestExpectedMessageIsDroppedBeforeAnythingIsKept()
    {
        // 4 MiB expected: a count of 2^31 - 1 chunks (2 PiB) and an oversized chunk are refused at once
        var assembler = new ChunkAssembler(Sys, 4L << 20);
        Assert.Null(assembler.Add(new Chunk(1, 0, int.MaxValue, nameof(NodeResult), [1]), TestActor));
        Assert.Null(assembler.Add(new Chunk(2, 0, 6, nameof(NodeResult), [1]), TestActor));
        Assert.Null(assembler.Add(new Chunk(3, 0, 2, nameof(NodeResult), new byte[Chunking.ChunkSize + 1]), TestActor));
        Assert.Equal(0, assembler.OpenTransfers);
        Assert.Equal(3, assembler.Refused);

        // what fits is assembled as before
        Assert.Null(assembler.Add(new Chunk(4, 0, 5, nameof(NodeResult), [1]), TestActor));
        Assert.Equal(1, assembler.OpenTransfers);
    }

    [Fact]
    public void ManySendersTogetherHoldAtMostTwoLargestMessagesTheOldestTransfersGoingFirst()
    {
        // 1 MiB expected: senders that each start a transfer of the largest size and never finish it
        var assembler = new ChunkAssembler(Sys, 1L << 20);
        byte[] full = new byte[Chunking.ChunkSize];
        int chunks = (int)((1L << 20) / Chunking.ChunkSize);
        var senders = Enumerable.Range(0, 10).Select(_ => CreateTestProbe().Ref).ToArray();
        for (int i = 0; i < chunks - 1; i++)
        {
            foreach ((IActorRef sender, int s) in senders.Select((r, s) => (r, s)))
            {
                assembler.Add(new Chunk(s, i, chunks, nameof(NodeResult), full), sender);
                Assert.True(assembler.HeldBytes <= assembler.MaxHeldBytes, $"{assembler.HeldBytes} bytes held");
            }
        }

        Assert.Equal(2L << 20, assembler.MaxHeldBytes);
        Assert.True(assembler.OpenTransfers <= 3, $"{assembler.OpenTransfers} transfers open");
    }

    [Fact]
    public void ASendersNewTransferEndsItsPartialOne()
    {
        var assembler = new ChunkAssembler(Sys, 64L << 20);
        assembler.Add(new Chunk(1, 0, 2, nameof(NodeResult), [1]), TestActor);
        assembler.Add(new Chunk(2, 0, 2, nameof(NodeResult), [1]), TestActor);
        assembler.Add(new Chunk(3, 0, 2, nameof(NodeResult), [1]), CreateTestProbe().Ref);
        Assert.Equal(2, assembler.OpenTransfers);
    }

    [Fact]
    public void ALocalTargetGetsTheMessageItself()
    {
        var message = new NodeResult("r", 1, 2, new TreeNode(0, 3), 4.5, new float[700_000], 1);
        Assert.Equal(0, Chunking.Tell(Sys, TestActor, message, ActorRefs.Nobody));
        Assert.Same(message, ExpectMsg<NodeResult>());
    }

    // what Chunking.Tell sends to a remote actor, captured without a network
    private (IReadOnlyList<Chunk> Chunks, long Bytes) Cut(IProtocolMessage message)
    {
        var serializer = (ProtocolSerializer)Sys.Serialization.FindSerializerFor(message);
        byte[] bytes = serializer.ToBinary(message);
        var chunks = new List<Chunk>();
        int count = (bytes.Length + Chunking.ChunkSize - 1) / Chunking.ChunkSize;
        for (int i = 0; i < count; i++)
        {
            int offset = i * Chunking.ChunkSize;
            chunks.Add(new Chunk(1, i, count, serializer.Manifest(message), bytes[offset..Math.Min(bytes.Length, offset + Chunking.ChunkSize)]));
        }

        return (chunks, bytes.Length);
    }
}

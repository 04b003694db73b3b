using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Configuration;
using Akka.Serialization;
using CnnCluster.Shared.Protocol;
using CnnCluster.Shared.Serialization;
using MessagePack;
using Xunit;

namespace CnnCluster.Shared.Tests;

/// <summary>
/// Every protocol message goes through our MessagePack serializer and survives the round trip. Akka's
/// fallback for unbound types is JSON, which would work silently: these specs make that a failure.
/// </summary>
public sealed class SerializationSpecs : Akka.TestKit.Xunit2.TestKit
{
    public SerializationSpecs()
        : base(ProtocolSystem.Create("ser"))
    {
    }

    public static IEnumerable<object[]> MessageTypes() => ProtocolSerializer.MessageTypes.Select(t => new object[] { t.Name });

    [Fact]
    public void TheStartUpWarmUpMakesEveryTypesFormatter() =>
        Assert.Empty(ProtocolSerializer.WarmUp()); // a type that fails there would build its formatter in a run's middle

    [Fact]
    public void EveryTypeOfTheProtocolNamespaceIsAProtocolMessage()
    {
        Type[] inNamespace = typeof(IProtocolMessage).Assembly.GetTypes()
            .Where(t => t.Namespace == typeof(IProtocolMessage).Namespace && t.IsPublic && !t.IsInterface && !t.IsEnum && !(t.IsAbstract && t.IsSealed)) // an enum travels inside a message; a static class never travels
            .ToArray();
        Assert.NotEmpty(inNamespace);
        foreach (Type t in inNamespace)
        {
            Assert.True(typeof(IProtocolMessage).IsAssignableFrom(t), $"{t.Name} is in the protocol namespace but does not implement IProtocolMessage, so Akka would send it as JSON");
        }

        Assert.Equal(inNamespace.OrderBy(t => t.Name), ProtocolSerializer.MessageTypes);
    }

    [Theory]
    [MemberData(nameof(MessageTypes))]
    public void EachMessageUsesOurSerializerAndRoundTrips(string typeName)
    {
        Type type = ProtocolSerializer.MessageTypes.Single(t => t.Name == typeName);
        Assert.True(ProtocolSamples.All.TryGetValue(type, out IProtocolMessage? sample), $"add a sample of {typeName} to ProtocolSamples");
        Serializer serializer = Sys.Serialization.FindSerializerFor(sample);
        Assert.IsType<ProtocolSerializer>(serializer);

        byte[] bytes = serializer.ToBinary(sample);
        string manifest = Akka.Serialization.Serialization.ManifestFor(serializer, sample);
        object back = Sys.Serialization.Deserialize(bytes, serializer.Identifier, manifest);
        Assert.IsType(type, back);

        // records hold arrays, so compare through the bytes of a second trip
        Assert.Equal(bytes, serializer.ToBinary(back));
    }

    [Fact]
    public void FloatArraysTravelAsRawLittleEndianBytes()
    {
        var gradient = new float[100_000];
        gradient[0] = 1.5f;
        gradient[^1] = -3f;
        var message = new NodeResult("r", 1, 2, new TreeNode(0, 0), 0, gradient, 0);
        byte[] bytes = MessagePackSerializer.Serialize(message, ProtocolSerializer.Options);

        // 4 bytes a float plus a few dozen bytes of header and fields
        Assert.InRange(bytes.Length, 400_000, 400_100);
        byte[] raw = BitConverter.GetBytes(1.5f);
        Assert.True(bytes.AsSpan().IndexOf(raw) > 0);
        var back = MessagePackSerializer.Deserialize<NodeResult>(bytes, ProtocolSerializer.Options);
        Assert.Equal(gradient, back.Gradient);
    }

    [Fact]
    public void AWorkerInfoFromBeforeTheNumericContractReadsAsContractZero()
    {
        // what a worker of the previous version sends: threads, shards done, last step time
        byte[] old = MessagePackSerializer.Serialize(new object[] { 2, 1000L, 12.5 }, ProtocolSerializer.Options);
        var info = MessagePackSerializer.Deserialize<WorkerInfo>(old, ProtocolSerializer.Options);
        Assert.Equal(0, info.NumericContract);
        Assert.Equal(2, info.Threads);
    }

    [Fact]
    public void ARunConfigJournaledBeforeAugmentationReadsAsNotAugmented()
    {
        // what a journal of the previous version holds: keys 0–17, no 18
        RunConfig now = ProtocolSamples.Config with { Augment = true };
        object?[] fields = MessagePackSerializer.Deserialize<object?[]>(MessagePackSerializer.Serialize(now, ProtocolSerializer.Options), ProtocolSerializer.Options);
        Assert.Equal(19, fields.Length);
        byte[] old = MessagePackSerializer.Serialize(fields[..18], ProtocolSerializer.Options);

        var back = MessagePackSerializer.Deserialize<RunConfig>(old, ProtocolSerializer.Options);
        Assert.False(back.Augment);
        Assert.Equal(now with { Augment = false }, back);
    }

    [Fact]
    public void EpochFiguresKeepTheirAlphaFractionAndOnesJournaledBeforeItReadAsNone()
    {
        foreach (IProtocolMessage now in new IProtocolMessage[] { ProtocolSamples.All[typeof(EpochRecorded)], ProtocolSamples.All[typeof(EpochCompleted)] })
        {
            Type type = now.GetType();
            byte[] bytes = MessagePackSerializer.Serialize(type, now, ProtocolSerializer.Options);
            Assert.Equal(now, MessagePackSerializer.Deserialize(type, bytes, ProtocolSerializer.Options));

            // what a journal (or a coordinator) of the previous version holds: every key but the last
            object?[] fields = MessagePackSerializer.Deserialize<object?[]>(bytes, ProtocolSerializer.Options);
            Assert.Equal(0.375, fields[^1]);
            byte[] old = MessagePackSerializer.Serialize(fields[..^1], ProtocolSerializer.Options);
            object back = MessagePackSerializer.Deserialize(type, old, ProtocolSerializer.Options)!;
            object expected = now switch
            {
                EpochRecorded e => e with { SparseAlphaFraction = null },
                EpochCompleted e => e with { SparseAlphaFraction = null },
                _ => throw new InvalidOperationException(),
            };
            Assert.Equal(expected, back);
        }

        // a model without map combinations journals none
        var plain = new EpochRecorded(1, 200, 0.4, 0.3, 0.9, 20, 6400);
        Assert.Null(MessagePackSerializer.Deserialize<EpochRecorded>(MessagePackSerializer.Serialize(plain, ProtocolSerializer.Options), ProtocolSerializer.Options).SparseAlphaFraction);
    }

    [Fact]
    public void AnUnknownManifestIsRefused()
    {
        var serializer = (ProtocolSerializer)Sys.Serialization.FindSerializerForType(typeof(RunAccepted));
        Assert.Throws<System.Runtime.Serialization.SerializationException>(() => serializer.FromBinary([0x90], "NoSuchMessage"));
    }
}

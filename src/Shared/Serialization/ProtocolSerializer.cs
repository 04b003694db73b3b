using System.Collections.Frozen;
using Akka.Actor;
using Akka.Serialization;
using CnnCluster.Shared.Protocol;
using MessagePack;
using MessagePack.Resolvers;

namespace CnnCluster.Shared.Serialization;

/// <summary>
/// The serializer of every <see cref="IProtocolMessage"/>: MessagePack 2.x with float arrays as raw
/// little-endian bytes. The manifest is the type's short name; the set of types is every protocol
/// message in this assembly.
/// </summary>
public sealed class ProtocolSerializer : SerializerWithStringManifest
{
    public const int Id = 4711;

    /// <summary>The identifier used in HOCON and Akka.Hosting bindings.</summary>
    public const string Name = "cnn-msgpack";

    public static readonly MessagePackSerializerOptions Options = MessagePackSerializerOptions.Standard
        .WithResolver(CompositeResolver.Create([RawFloatArrayFormatter.Instance], [StandardResolver.Instance]))
        .WithSecurity(MessagePackSecurity.UntrustedData);

    /// <summary>Every concrete protocol message type.</summary>
    public static IReadOnlyList<Type> MessageTypes { get; } = typeof(IProtocolMessage).Assembly.GetTypes()
        .Where(t => typeof(IProtocolMessage).IsAssignableFrom(t) && !t.IsInterface && !t.IsAbstract)
        .OrderBy(t => t.Name)
        .ToArray();

    private static readonly FrozenDictionary<Type, string> Manifests = MessageTypes.ToFrozenDictionary(t => t, t => t.Name);
    private static readonly FrozenDictionary<string, Type> TypesByManifest = MessageTypes.ToFrozenDictionary(t => t.Name, t => t);

    public ProtocolSerializer(ExtendedActorSystem system)
        : base(system)
    {
    }

    public override int Identifier => Id;

    public override byte[] ToBinary(object obj)
    {
        if (!Manifests.ContainsKey(obj.GetType()))
        {
            throw new ArgumentException($"{obj.GetType()} is not a protocol message");
        }

        return MessagePackSerializer.Serialize(obj.GetType(), obj, Options);
    }

    public override object FromBinary(byte[] bytes, string manifest)
    {
        if (!TypesByManifest.TryGetValue(manifest, out Type? type))
        {
            throw new System.Runtime.Serialization.SerializationException($"unknown protocol manifest '{manifest}'");
        }

        return MessagePackSerializer.Deserialize(type, bytes, Options)!;
    }

    public override string Manifest(object o) =>
        Manifests.TryGetValue(o.GetType(), out string? m) ? m : throw new ArgumentException($"{o.GetType()} is not a protocol message");
}

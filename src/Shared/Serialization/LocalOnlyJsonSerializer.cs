using Akka.Actor;
using Akka.Configuration;
using Akka.Serialization;

namespace CnnCluster.Shared.Serialization;

/// <summary>
/// Akka's JSON fallback, closed to this project's own types. Everything of ours that crosses the network is a
/// protocol message (<see cref="ProtocolSerializer"/>: a closed set, MessagePack, checked where it is read);
/// every other type of ours (a run's notices to its registry, the worker directory's subscriptions and
/// quarantines, the registry's own timers) is meant for actors of the same process. Through JSON any of them
/// could be sent by any member to a path it may select, with any sender it names. This serializer refuses to
/// write one (a bug: it would have left the process) and to read one (a peer tried), so none ever arrives from
/// another node; Akka's own types and the plugins' are served as before.
/// </summary>
public sealed class LocalOnlyJsonSerializer : NewtonSoftJsonSerializer
{
    public LocalOnlyJsonSerializer(ExtendedActorSystem system)
        : base(system)
    {
    }

    public LocalOnlyJsonSerializer(ExtendedActorSystem system, Config config)
        : base(system, config)
    {
    }

    /// <summary>Akka's JSON serializer's own id: what peers' JSON messages name, so they are read (and refused) here.</summary>
    public override int Identifier => 1;

    /// <summary>The HOCON that puts this serializer in place of Akka's JSON one.</summary>
    public const string Hocon = "akka.actor.serializers.json = \"CnnCluster.Shared.Serialization.LocalOnlyJsonSerializer, CnnCluster.Shared\"";

    public override byte[] ToBinary(object obj)
    {
        Refuse(obj?.GetType(), "leave this process");
        return base.ToBinary(obj);
    }

    /// <summary>
    /// Akka's JSON carries the types in the text ("$type", assembly-qualified; no manifest), nested ones too: a
    /// text that names one of our assemblies is refused before anything is made of it, and what is made is
    /// checked once more.
    /// </summary>
    public override object FromBinary(byte[] bytes, Type type)
    {
        Refuse(type, "come from another node");
        int at = bytes.AsSpan().IndexOf(OurAssemblies);
        if (at >= 0)
        {
            throw new System.Runtime.Serialization.SerializationException($"a message naming {NamedAt(bytes, at)} may not come from another node: only protocol messages cross the network");
        }

        object message = base.FromBinary(bytes, type);
        Refuse(message?.GetType(), "come from another node");
        return message!;
    }

    private static ReadOnlySpan<byte> OurAssemblies => ", CnnCluster."u8;

    /// <summary>The type name that ends where one of our assemblies is named (from its opening quote), made safe to print.</summary>
    private static string NamedAt(byte[] bytes, int at)
    {
        int start = bytes.AsSpan(0, at).LastIndexOf((byte)'"') + 1;
        start = Math.Max(start, at - 200);
        return CnnCluster.Security.TerminalText.Safe(System.Text.Encoding.UTF8.GetString(bytes, start, at - start));
    }

    /// <summary>True for a type of this project (any generic argument included).</summary>
    public static bool IsOurs(Type? type) => type is not null
        && ((type.Assembly.GetName().Name?.StartsWith("CnnCluster.", StringComparison.Ordinal) ?? false)
            || (type.IsGenericType && type.GetGenericArguments().Any(IsOurs))
            || (type.IsArray && IsOurs(type.GetElementType())));

    private static void Refuse(Type? type, string what)
    {
        if (IsOurs(type))
        {
            throw new System.Runtime.Serialization.SerializationException($"a {type!.Name} may not {what}: only protocol messages cross the network");
        }
    }
}

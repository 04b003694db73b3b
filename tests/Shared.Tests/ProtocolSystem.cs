using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Configuration;
using Akka.Serialization;
using CnnCluster.Shared.Protocol;
using CnnCluster.Shared.Serialization;

namespace CnnCluster.Shared.Tests;

/// <summary>A test actor system with our serializer bound to the protocol, as the nodes bind it.</summary>
internal static class ProtocolSystem
{
    public static ActorSystem Create(string name) => ActorSystem.Create(
        name,
        ActorSystemSetup.Create(BootstrapSetup.Create().WithConfig(ConfigurationFactory.Empty))
            .And(SerializationSetup.Create(system => [SerializerDetails.Create(ProtocolSerializer.Name, new ProtocolSerializer(system), [typeof(IProtocolMessage)])])));
}

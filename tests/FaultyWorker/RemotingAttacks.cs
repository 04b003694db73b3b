using System.Text;
using Akka.Actor;
using Akka.Serialization;
using CnnCluster.Shared.Hosting;

namespace CnnCluster.FaultyWorker;

/// <summary>
/// A hostile member's messages to the coordinator's registry over Akka remoting (the registry's path is one other
/// nodes may select): a run's end notice ("completed", accuracy 0.99: a run that could never be resumed) and a
/// worker's quarantine, both types the coordinator's actors tell only each other. The real worker would not write
/// them (its JSON refuses our types), so this member writes the JSON itself under the id of Akka's JSON
/// serializer, once naming the types plainly and once with the names escaped (\u0043 for C), which a text search
/// for our assemblies would not see.
/// </summary>
internal static class RemotingAttacks
{
    private static ActorSystem? _system;

    public static void Keep(ActorSystem system)
    {
        _system = system;
        system.Serialization.AddSerializationMap(typeof(ForgedJson), new ForgedJsonSerializer((ExtendedActorSystem)system));
    }

    public static void Send(string runId, string[] members)
    {
        if (_system is not { } system || Akka.Cluster.Cluster.Get(system).State.Members.FirstOrDefault(m => m.HasRole(Roles.Coordinator)) is not { } coordinator)
        {
            HostileMember.Tell("no coordinator seen: the remoting attacks are not sent");
            return;
        }

        ActorSelection registry = system.ActorSelection(new RootActorPath(coordinator.Address) / "user" / "run-registry" / "singleton");
        string worker = (new RootActorPath(coordinator.Address) / "user" / "worker-0").ToString(); // any path: it is never read
        foreach (bool escaped in new[] { false, true })
        {
            string C(string name) => escaped ? name.Replace("C", "\\u0043", StringComparison.Ordinal) : name;
            HostileMember.Tell($"a run's end notice over remoting, to the registry at {coordinator.Address}{(escaped ? ", the type's name escaped" : "")}");
            registry.Tell(new ForgedJson($$"""{"$type":"{{C("CnnCluster.Coordinator.Runs.RunEndedNotice, CnnCluster.Coordinator")}}","RunId":"{{runId}}","Outcome":0,"Step":1,"TestAccuracy":0.99}"""));
            HostileMember.Tell($"a quarantine of the worker at {members[0]} over remoting, to the registry{(escaped ? ", the type's name escaped" : "")}");
            registry.Tell(new ForgedJson($$"""{"$type":"{{C("CnnCluster.Coordinator.Cluster.QuarantineWorker, CnnCluster.Coordinator")}}","Worker":{"$type":"Akka.Actor.ActorRefBase+Surrogate, Akka","Path":"{{worker}}"},"Reason":"forged"}"""));
        }
    }

    /// <summary>A JSON text sent as it is.</summary>
    private sealed record ForgedJson(string Text);

    /// <summary>Writes a <see cref="ForgedJson"/>'s text under the id of Akka's JSON serializer, as a peer without our guard would.</summary>
    private sealed class ForgedJsonSerializer(ExtendedActorSystem system) : Serializer(system)
    {
        public override int Identifier => 1;

        public override bool IncludeManifest => false;

        public override byte[] ToBinary(object obj) => Encoding.UTF8.GetBytes(((ForgedJson)obj).Text);

        public override object FromBinary(byte[] bytes, Type type) => throw new NotSupportedException("a forger reads nothing");
    }
}

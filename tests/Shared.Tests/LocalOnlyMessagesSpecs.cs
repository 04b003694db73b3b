using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Configuration;
using CnnCluster.Shared.Serialization;
using Xunit;

namespace CnnCluster.Shared.Tests;

/// <summary>What a node's actors tell each other inside the process.</summary>
public sealed record ForgedNotice(string RunId, string Status);

/// <summary>
/// Only protocol messages cross the network: a peer over real remoting on 127.0.0.1 that sends one of this
/// project's other types (a run's notice to its registry, say) through Akka's JSON, to a path it may select,
/// gets nothing delivered, while a message of Akka's own on the same path arrives; and a node never writes
/// one of ours as JSON.
/// </summary>
public sealed class LocalOnlyMessagesSpecs : IDisposable
{
    private static Config Remote(bool guarded) => ConfigurationFactory.ParseString($$"""
        akka.loglevel = ERROR
        akka.actor.provider = remote
        akka.remote.dot-netty.tcp.hostname = 127.0.0.1
        akka.remote.dot-netty.tcp.port = 0
        akka.remote.untrusted-mode = on
        akka.remote.trusted-selection-paths = ["/user/target"]
        {{(guarded ? LocalOnlyJsonSerializer.Hocon : string.Empty)}}
        """);

    private readonly ActorSystem _node = ActorSystem.Create("node", Remote(guarded: true));
    private readonly ActorSystem _peer = ActorSystem.Create("node", Remote(guarded: false));

    public void Dispose()
    {
        _peer.Terminate().Wait(TimeSpan.FromSeconds(10));
        _node.Terminate().Wait(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public void APeerCannotDeliverOneOfOurTypesThroughJson()
    {
        var arrived = new BlockingCollection<object>();
        _node.ActorOf(Props.Create(() => new Recorder(arrived)), "target");
        Address address = ((ExtendedActorSystem)_node).Provider.DefaultAddress;
        ActorSelection target = _peer.ActorSelection(new RootActorPath(address) / "user" / "target");

        target.Tell(new ForgedNotice("r1", "completed")); // what a member could send the registry
        target.Tell("after");
        Assert.Equal("after", arrived.Take(new CancellationTokenSource(TimeSpan.FromSeconds(20)).Token));
        Assert.Empty(arrived);
    }

    [Fact]
    public void ANodeNeverWritesOneOfOursAsJson()
    {
        Akka.Serialization.Serializer json = ((ExtendedActorSystem)_node).Serialization.FindSerializerForType(typeof(ForgedNotice));
        Assert.IsType<LocalOnlyJsonSerializer>(json);
        var e = Assert.Throws<System.Runtime.Serialization.SerializationException>(() => json.ToBinary(new ForgedNotice("r1", "completed")));
        Assert.Equal("a ForgedNotice may not leave this process: only protocol messages cross the network", e.Message);
        Assert.NotEmpty(json.ToBinary(new Akka.Actor.Identify(1))); // Akka's own still are
        Assert.False(LocalOnlyJsonSerializer.IsOurs(typeof(string)));
        Assert.True(LocalOnlyJsonSerializer.IsOurs(typeof(List<ForgedNotice>)));
    }

    private sealed class Recorder : ReceiveActor
    {
        public Recorder(BlockingCollection<object> arrived) => ReceiveAny(arrived.Add);
    }
}

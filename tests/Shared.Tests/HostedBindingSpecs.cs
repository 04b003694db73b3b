using Akka.Actor;
using Akka.Hosting;
using CnnCluster.Shared.Hosting;
using CnnCluster.Shared.Protocol;
using CnnCluster.Shared.Serialization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xunit;

namespace CnnCluster.Shared.Tests;

/// <summary>The binding as the nodes really configure it (Akka.Hosting, remoting, clustering): every message goes to our serializer.</summary>
public sealed class HostedBindingSpecs
{
    [Fact]
    public async Task TheNodeConfigurationBindsEveryProtocolMessageToOurSerializer()
    {
        HostApplicationBuilder builder = Host.CreateApplicationBuilder();
        builder.Services.AddAkka(NodeSettings.SystemName, (akka, _) =>
            akka.WithCnnClusterNode(new NodeSettings("127.0.0.1", "127.0.0.1", 0, []), Roles.Worker));
        using IHost host = builder.Build();
        await host.StartAsync();
        try
        {
            ActorSystem system = host.Services.GetRequiredService<ActorSystem>();
            foreach (Type type in ProtocolSerializer.MessageTypes)
            {
                IProtocolMessage sample = ProtocolSamples.All[type];
                Assert.True(system.Serialization.FindSerializerFor(sample) is ProtocolSerializer, $"{type.Name} is not serialized by {nameof(ProtocolSerializer)}");
            }

            // and a type outside the protocol would not be: the check above can fail
            Assert.False(system.Serialization.FindSerializerFor(new Unbound()) is ProtocolSerializer);

            // the split-brain resolver as configured (not Akka's defaults): churn never downs every node
            var sbr = system.Settings.Config.GetConfig("akka.cluster.split-brain-resolver");
            Assert.Equal("keep-majority", sbr.GetString("active-strategy"));
            Assert.Equal(TimeSpan.FromSeconds(10), sbr.GetTimeSpan("stable-after"));
            Assert.Equal("off", sbr.GetString("down-all-when-unstable"));

            // untrusted mode: members may select only the cluster's own paths and our workers
            var remote = ((Akka.Remote.RemoteActorRefProvider)((ExtendedActorSystem)system).Provider).RemoteSettings;
            Assert.True(remote.UntrustedMode);
            Assert.Equal(["/system/cluster/core/daemon", "/system/cluster/heartbeatReceiver", "/user/run-registry", "/user/run-registry/singleton", "/user/worker-*"], remote.TrustedSelectionPaths.Order(StringComparer.Ordinal));
        }
        finally
        {
            await host.StopAsync();
        }
    }

    private sealed record Unbound;
}

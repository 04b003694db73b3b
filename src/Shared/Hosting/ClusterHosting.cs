using CnnCluster.Shared.Security;
using System.Text.RegularExpressions;
using Akka.Cluster.Hosting;
using Akka.Event;
using Akka.Cluster.Hosting.SBR;
using Akka.Hosting;
using Akka.Remote.Hosting;
using CnnCluster.Shared.Protocol;
using CnnCluster.Shared.Serialization;
using CnnCluster.Shared.Transport;

namespace CnnCluster.Shared.Hosting;

/// <summary>The Akka.NET configuration every node shares, through Akka.Hosting.</summary>
public static class ClusterHosting
{
    private static RemoteOptions Remoting(NodeSettings settings)
    {
        var options = new RemoteOptions
        {
            HostName = settings.Bind,
            PublicHostName = settings.Hostname,
            Port = settings.Port,
            MaxFrameSize = Chunking.MaximumFrameSize,
            SendBufferSize = 2 * Chunking.MaximumFrameSize,
            ReceiveBufferSize = 2 * Chunking.MaximumFrameSize,
        };
        if (settings.Trust is { Certificate: not null } trust)
        {
            options.EnableSsl = true;
            options.Ssl = new SslOptions
            {
                X509Certificate = trust.Certificate,
                RequireMutualAuthentication = true,
                // every node presents the same certificate: the chain to the cluster's authority is the identity
                ValidateCertificateHostname = false,
                CustomValidator = trust.RemotingValidator(),
            };
        }

        return options;
    }

    /// <summary>
    /// Remoting on <paramref name="settings"/> with a raised frame size (mutual TLS with the cluster's
    /// authority when the settings carry its trust; untrusted mode always, so that a peer can neither deploy
    /// actors here, nor send PoisonPill-like messages, nor select any actor but the few paths the cluster and
    /// our protocol need), clustering with the given roles
    /// and keep-majority split-brain resolution on the coordinator role (a member that says it is a coordinator
    /// must show a coordinator's certificate: <see cref="MemberRoleCheck"/>), our MessagePack serializer
    /// bound to every protocol message, graceful leave on shutdown, Akka logs through
    /// Microsoft.Extensions.Logging.
    /// </summary>
    public static AkkaConfigurationBuilder WithCnnClusterNode(this AkkaConfigurationBuilder builder, NodeSettings settings, params string[] roles)
    {
        return builder
            .ConfigureLoggers(loggers =>
            {
                loggers.LogLevel = string.Equals(Environment.GetEnvironmentVariable("CNN_LOG_LEVEL"), "debug", StringComparison.OrdinalIgnoreCase)
                    ? Akka.Event.LogLevel.DebugLevel
                    : Akka.Event.LogLevel.InfoLevel;
                loggers.ClearLoggers();
                loggers.AddLoggerFactory();
            })
            .WithRemoting(Remoting(settings))
            .WithClustering(new ClusterOptions
            {
                Roles = roles,
                SeedNodes = settings.Seeds.ToArray(),
                SplitBrainResolver = new KeepMajorityOption { Role = Roles.Coordinator },
                LogInfo = false,
            })
            .AddSetup(new Security.NodeTrustSetup(settings.Trust))
            .WithActors((system, _) =>
            {
                if (settings.Trust is { Certificate: not null } trust)
                {
                    system.ActorOf(MemberRoleCheck.Props(trust), "member-role-check");
                }
            })
            .WithCustomSerializer(ProtocolSerializer.Name, [typeof(IProtocolMessage)], system => new ProtocolSerializer(system))
            // a peer that left is reported by the worker directory; the remoting layer's stack trace adds nothing
            .AddSetup(new LogFilterBuilder().ExcludeMessageRegex(new Regex("^Disassociated")).Build())
            .AddHocon(
                $$"""
                # false warning at every proxy start (akka.net issue 8568)
                akka.cluster.singleton-proxy.log-singleton-identification-failure = off
                akka.stdout-loglevel = WARNING
                # a step is one round trip: DotNetty's write batching (40 ms flushes) would be most of it
                akka.remote.dot-netty.tcp.batching.enabled = false
                akka.coordinated-shutdown.run-by-clr-shutdown-hook = on
                # a leaving oldest hands the registry singleton over, or stops it when no node takes it, at this
                # retry's first tick: Akka's 1 s made every coordinator's exit (each `train` run's end) 1 s longer
                akka.cluster.singleton.hand-over-retry-interval = 250ms
                akka.cluster.run-coordinated-shutdown-when-down = on
                # workers come and go (killed, scaled, restarted): with Akka's default 20 s of stability and
                # down-all-when-unstable, a worker SIGKILLed every 15-30 s kept the cluster "unstable" and the
                # resolver downed every node, the coordinator too (bench/chaos.sh). Decide after 10 s of
                # stability, and never down everyone for churn: keep-majority on the coordinator role decides.
                akka.cluster.split-brain-resolver.stable-after = 10s
                akka.cluster.split-brain-resolver.down-all-when-unstable = off
                akka.cluster.log-info-verbose = off
                akka.remote.log-remote-lifecycle-events = off
                akka.actor.serialize-messages = off
                # Akka's scheduler wakes a pool thread at every tick, which then spins before it sleeps: at the default
                # 10 ms an idle node burned ~5% of a core (perf: the pool's spin-waiter after each tick), and a busy one
                # took that from its compute threads. Every timer here is 200 ms or longer; they now fire up to 100 ms late.
                akka.scheduler.tick-duration = 100ms
                # only protocol messages cross the network: JSON neither writes nor reads a type of ours
                {{Serialization.LocalOnlyJsonSerializer.Hocon}}
                akka.remote.untrusted-mode = on
                # the selections other nodes make here: cluster membership and heartbeats, the registry
                # singleton's managers and proxies, and the worker directory identifying a node's workers
                akka.remote.trusted-selection-paths = [
                  "/system/cluster/core/daemon", "/system/cluster/heartbeatReceiver",
                  "/user/run-registry", "/user/run-registry/singleton", "/user/worker-*"
                ]
                """,
                HoconAddMode.Prepend);
    }
}

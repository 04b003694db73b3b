using Akka.Actor;
using CnnCluster.Coordinator.Cluster;
using CnnCluster.Engine.Kernels;
using CnnCluster.Shared.Protocol;
using CnnCluster.Worker;
using Xunit;

namespace CnnCluster.Coordinator.Tests;

/// <summary>The directory on a real one-node cluster (roles coordinator and worker) with a real worker actor.</summary>
public sealed class WorkerDirectorySpecs : Akka.TestKit.Xunit2.TestKit
{
    public WorkerDirectorySpecs()
        : base("""
            akka.loglevel = WARNING
            akka.actor.provider = cluster
            akka.remote.dot-netty.tcp { hostname = 127.0.0.1, port = 0 }
            akka.cluster.roles = [coordinator, worker]
            """)
    {
    }

    [Fact]
    public void FindsWorkerActorsOfWorkerMembersAndReportsTheirLoss()
    {
        IActorRef worker = Sys.ActorOf(GradientWorker.Props(new WorkerEngine(3, null)), "worker-0");
        var cluster = Akka.Cluster.Cluster.Get(Sys);
        cluster.Join(cluster.SelfAddress);

        IActorRef directory = Sys.ActorOf(WorkerDirectory.Props(), "workers");
        directory.Tell(new SubscribeWorkers(TestActor));
        var joined = FishForMessage<object>(m => m is WorkerJoined || (m is WorkerSet s && s.Workers.Count == 1), TimeSpan.FromSeconds(20));
        IActorRef found = joined is WorkerJoined j ? j.Worker : ((WorkerSet)joined).Workers.Keys.Single();
        Assert.Equal(worker, found);

        Sys.Stop(worker);
        WorkerLost lost = FishForMessage<WorkerLost>(_ => true, TimeSpan.FromSeconds(10));
        Assert.Equal(worker, lost.Worker);
    }

    [Fact]
    public async Task AWorkerThatSpeaksAnotherProtocolIsRefusedInWordsAndGetsNoWork()
    {
        Sys.ActorOf(Props.Create(() => new OldWorker()), "worker-0");
        var cluster = Akka.Cluster.Cluster.Get(Sys);
        cluster.Join(cluster.SelfAddress);

        IActorRef directory = Sys.ActorOf(WorkerDirectory.Props(), "workers");
        directory.Tell(new SubscribeWorkers(TestActor));
        WorkerListEntry entry = await AwaitRefused(directory);
        Assert.Equal($"protocol 0, this coordinator speaks {WorkerInfo.CurrentProtocol} (its messages would be misread)", entry.Refused);
        Assert.Empty(ExpectMsg<WorkerSet>().Workers);
        ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }

    private static async Task<WorkerListEntry> AwaitRefused(IActorRef directory)
    {
        for (DateTime until = DateTime.UtcNow.AddSeconds(20); DateTime.UtcNow < until; await Task.Delay(100))
        {
            if ((await directory.Ask<WorkerList>(new ListWorkers(), TimeSpan.FromSeconds(10))).Workers.SingleOrDefault() is { Refused.Length: > 0 } refused)
            {
                return refused;
            }
        }

        throw new TimeoutException("the worker was not refused");
    }

    /// <summary>A worker of a build before the protocol's version: its info says nothing of it (0).</summary>
    private sealed class OldWorker : ReceiveActor
    {
        public OldWorker() => Receive<WorkerInfoRequest>(_ => Sender.Tell(new WorkerInfo(1, 0, 0, NumericContract.Version, "avx2", "")));
    }
}

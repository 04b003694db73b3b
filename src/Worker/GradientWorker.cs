using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using CnnCluster.Engine.Data;
using CnnCluster.Engine.Kernels;
using CnnCluster.Engine.Layers;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.DataPlane;
using CnnCluster.Shared.Protocol;
using CnnCluster.Shared.Security;
using CnnCluster.Shared.Transport;
using CnnCluster.Worker.Sharded;

namespace CnnCluster.Worker;

/// <summary>
/// A worker actor (role `worker`, path /user/worker-N): computes the tree nodes it is assigned, one
/// assignment at a time on its own compute thread (with the engine's thread team), and sends each node's gradient
/// back to the assigning run as soon as it is ready. An assignment queued behind a newer step of the
/// same run is dropped, since its results would be stale. Assignments arrive through Akka (from
/// in-process runs, or as chunks) or over this worker's data plane (<see cref="DataPlaneServer"/>,
/// announced in <see cref="WorkerInfo"/>); answers go back the way their assignment came.
/// For a run with the sharded all-reduce it holds a <see cref="ShardedReplica"/> and talks to its peers'
/// data planes (<see cref="PeerLinks"/>) as well.
/// </summary>
public sealed class GradientWorker : ReceiveActor
{
    private readonly WorkerEngine _engine;
    private readonly ChunkAssembler _chunks;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly LinkedList<(WorkAssignment Work, IWorkReplies Replies)> _queue = new();
    private readonly DataPlaneSettings? _dataPlane;
    private readonly ComputeThread _computing = new("cnn-worker");
    private readonly DataTraffic _traffic = new();
    private readonly Dictionary<string, (ShardedReplica Replica, ReplicaPorts Ports)> _replicas = new();
    private PeerLinks? _peers;
    private DataPlaneServer? _server;
    private bool _busy;
    private long _nodesDone;
    private double _lastStepMilliseconds;

    public GradientWorker(WorkerEngine engine, DataPlaneSettings? dataPlane)
    {
        _engine = engine;
        _dataPlane = dataPlane;
        // an assignment: the parameters of the largest model a spec may have, its spec and the batch
        _chunks = new ChunkAssembler(Context.System, (4 * Engine.Models.ModelBudget.MaxParameters) + (16 << 20));

        Receive<Chunk>(c =>
        {
            if (_chunks.Add(c, Sender) is { } whole)
            {
                Self.Forward(whole);
            }
        });
        Receive<WorkAssignment>(work => Enqueue(work, new ActorReplies(Context.System, Sender, Self)));
        Receive<DataPlaneMessage>(OnDataPlane);
        Receive<NodeComputed>(OnNodeComputed);
        Receive<Done>(OnDone);
        Receive<WorkerInfoRequest>(_ => Sender.Tell(new WorkerInfo(_engine.Threads, _nodesDone, _lastStepMilliseconds, NumericContract.Reported, NumericContract.Instructions, _server?.Endpoint ?? "")));
    }

    public static Props Props(WorkerEngine engine, DataPlaneSettings? dataPlane = null) => Akka.Actor.Props.Create(() => new GradientWorker(engine, dataPlane));

    protected override void PreStart()
    {
        if (_dataPlane is { } settings)
        {
            IActorRef self = Self;
            ILoggingAdapter dataLog = _log;
            _server = new DataPlaneServer(settings.Bind, settings.Port, settings.AdvertisedHost, (message, replies) => self.Tell(new DataPlaneMessage(message, replies)), m => dataLog.Warning(m), _traffic, NodeTrustSetup.Of(Context.System));
            _peers = new PeerLinks(_traffic, m => dataLog.Warning(m), NodeTrustSetup.Of(Context.System));
            _server.Start();
            _log.Info("data plane listening at {0}", _server.Endpoint);
        }

        // load the data while the node joins; a failure here shows again, as WorkFailed, on the first assignment
        WorkerEngine engine = _engine;
        ILoggingAdapter log = _log;
        Task.Run(() =>
        {
            try
            {
                engine.Preload();
            }
            catch (Exception e)
            {
                log.Warning("cannot load the training data yet: {0}", e.Message);
            }
        });
    }

    protected override void PostStop()
    {
        _server?.Dispose();
        _peers?.Dispose();
        _computing.Dispose();
    }

    private void Enqueue(WorkAssignment work, IWorkReplies replies)
    {
        // a newer step of the same run makes older queued ones pointless
        for (var n = _queue.First; n is not null;)
        {
            var next = n.Next;
            WorkAssignment q = n.Value.Work;
            if (q.RunId == work.RunId && (q.Incarnation != work.Incarnation || q.Step < work.Step))
            {
                _queue.Remove(n);
            }

            n = next;
        }

        _queue.AddLast((work, replies));
        StartNext();
    }

    private void StartNext()
    {
        if (_busy || _queue.Count == 0)
        {
            return;
        }

        (WorkAssignment work, IWorkReplies replies) = _queue.First!.Value;
        _queue.RemoveFirst();
        _busy = true;
        WorkerEngine engine = _engine;
        IActorRef self = Self;
        _computing.Post(() =>
        {
            var clock = Stopwatch.StartNew();
            try
            {
                engine.Compute(work, result =>
                {
                    replies.Send((IProtocolMessage)result);
                    if (replies.Serializes)
                    {
                        // encoded once Send returns: the buffer can serve the next node
                        GradientBuffers.Shared(result.Gradient.Length).Return(result.Gradient);
                    }
                });
                if (replies.Serializes)
                {
                    // deserialized into a pooled buffer; a local sender's parameters belong to the sender
                    GradientBuffers.Shared(work.Parameters.Length).Return(work.Parameters);
                }

                self.Tell(new Done(work, null, clock.Elapsed.TotalMilliseconds));
            }
            catch (Exception e)
            {
                replies.Send(new WorkFailed(work.RunId, work.Incarnation, work.Step, e.Message));
                self.Tell(new Done(work, e, clock.Elapsed.TotalMilliseconds));
            }
        });
    }

    private void OnDone(Done done)
    {
        _busy = false;
        if (done.Error is null)
        {
            _nodesDone += done.Work.Nodes.Length;
            _lastStepMilliseconds = done.Milliseconds;
        }
        else
        {
            _log.Warning("run {0} step {1}: {2}", done.Work.RunId, done.Work.Step, done.Error.Message);
        }

        StartNext();
    }

    // ---------------------------------------------------------------- the sharded all-reduce

    private void OnDataPlane(DataPlaneMessage m)
    {
        switch (m.Message)
        {
            case WorkAssignment work:
                Enqueue(work, m.Replies);
                break;
            case ReplicaInit init:
                OnReplicaInit(init, m.Replies);
                break;
            case StepPlan plan when Replica(plan.RunId, plan.Incarnation) is { } r:
                r.Ports.Coordinator = m.Replies;
                r.Ports.LastPlan = DateTime.UtcNow;
                r.Replica.OnPlan(plan);
                break;
            case StepPlan plan:
                m.Replies.Send(new WorkFailed(plan.RunId, plan.Incarnation, plan.Step, $"{ShardedReplica.OutOfStep} none (no replica of the run here)", WorkFailure.OutOfStep));
                break;
            case SlicePart part:
                Replica(part.RunId, part.Incarnation)?.Replica.OnPart(part);
                break;
            case SliceSum sum:
                Replica(sum.RunId, sum.Incarnation)?.Replica.OnSum(sum);
                break;
        }
    }

    private (ShardedReplica Replica, ReplicaPorts Ports)? Replica(string runId, long incarnation) =>
        _replicas.TryGetValue(runId, out var r) && r.Replica.Incarnation == incarnation ? r : null;

    private void OnReplicaInit(ReplicaInit init, IWorkReplies coordinator)
    {
        // a run that ended (or moved on without this worker) plans no more steps here: its replica goes
        foreach ((string runId, (ShardedReplica _, ReplicaPorts ports)) in _replicas.ToList())
        {
            if (runId != init.RunId && DateTime.UtcNow - ports.LastPlan > IdleReplica)
            {
                _replicas.Remove(runId);
                _log.Info("run {0}: replica dropped (no plan for {1} min)", runId, IdleReplica.TotalMinutes);
            }
        }

        try
        {
            (LabeledImages data, Engine.Models.Network network, ParallelGradient gradient) = _engine.Prepare(init.Config, init.DataFingerprint);
            var ports = new ReplicaPorts(init.RunId, init.Incarnation, coordinator, _peers!, _computing, gradient, data, Self, _traffic);
            _replicas[init.RunId] = (new ShardedReplica(init, network, data, ports), ports);
            _log.Info("run {0}: replica at step {1} ({2:N0} parameters)", init.RunId, init.Step, init.Parameters.Length);
        }
        catch (Exception e)
        {
            _replicas.Remove(init.RunId);
            coordinator.Send(new WorkFailed(init.RunId, init.Incarnation, init.Step, e.Message));
        }
    }

    private void OnNodeComputed(NodeComputed c)
    {
        if (Replica(c.RunId, c.Incarnation) is { } r)
        {
            r.Replica.OnNodeComputed(c.Key, c.Node, c.Gradient, c.Loss, c.Milliseconds);
            _nodesDone++;
        }

        GradientBuffers.Shared(c.Gradient.Length).Return(c.Gradient);
    }

    /// <summary>A replica with no plan for this long is dropped when another run's replica is made.</summary>
    private static readonly TimeSpan IdleReplica = TimeSpan.FromMinutes(5);

    private sealed record Done(WorkAssignment Work, Exception? Error, double Milliseconds);

    /// <summary>A message that came over the data plane, with its way back.</summary>
    private sealed record DataPlaneMessage(IProtocolMessage Message, IWorkReplies Replies);

    /// <summary>A node of a sharded step, computed on the compute thread.</summary>
    private sealed record NodeComputed(string RunId, long Incarnation, StepKey Key, TreeNode Node, float[] Gradient, double Loss, double Milliseconds);

    /// <summary>A replica's ways out: its coordinator's connection, the peer links, the compute thread.</summary>
    private sealed class ReplicaPorts(string runId, long incarnation, IWorkReplies coordinator, PeerLinks peers, ComputeThread thread, ParallelGradient gradient, LabeledImages data, IActorRef self, DataTraffic traffic) : IReplicaPorts
    {
        /// <summary>The connection of the latest plan (a restarted coordinator connects anew).</summary>
        public IWorkReplies Coordinator { get; set; } = coordinator;

        public DateTime LastPlan { get; set; } = DateTime.UtcNow;

        public (long Sent, long Received) StepTraffic => (traffic.StepSent, traffic.StepReceived);

        public (long Sent, long Received) StateTraffic => (traffic.StateSent, traffic.StateReceived);

        public void ToCoordinator(IProtocolMessage message) => Coordinator.Send(message);

        public void ToMembers(IReadOnlyList<string> endpoints, IProtocolMessage message, float[] pooled) => peers.Send(endpoints, message, pooled);

        public void Compute(StepKey key, float[] parameters, ArraySegment<int> batch, PassContext pass, IReadOnlyList<TreeNode> nodes, Func<bool> current)
        {
            IWorkReplies replies = Coordinator;
            thread.Post(() =>
            {
                foreach (TreeNode node in nodes)
                {
                    if (!current())
                    {
                        return; // a newer step or generation made it pointless
                    }

                    var clock = Stopwatch.StartNew();
                    try
                    {
                        (float[] g, double loss) = WorkerEngine.ComputeNode(gradient, parameters, data, batch, node, pass);
                        if (ResultFaults.Apply is { } fault)
                        {
                            NodeResult broken = fault(new NodeResult(runId, incarnation, key.Step, node, loss, g, 0));
                            (g, loss) = (broken.Gradient, broken.LossSum);
                        }

                        self.Tell(new NodeComputed(runId, incarnation, key, node, g, loss, clock.Elapsed.TotalMilliseconds));
                    }
                    catch (Exception e)
                    {
                        replies.Send(new WorkFailed(runId, incarnation, key.Step, e.Message));
                        return;
                    }
                }
            });
        }
    }
}

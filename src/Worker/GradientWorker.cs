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
/// For a run with the sharded all-reduce its <see cref="ReplicaHost"/> holds a <see cref="ShardedReplica"/>
/// that talks to its peers' data planes (<see cref="PeerLinks"/>) as well.
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
    private ReplicaHost? _replicas; // with a data plane: the replicas of sharded runs
    private PeerLinks? _peers;
    private DataPlaneServer? _server;
    private bool _busy;
    private long _nodesDone;
    private double _lastStepMilliseconds;
    private StepRef _lastShardedStep;

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
        Receive<ReplicaHost.NodeComputed>(c =>
        {
            if (_replicas?.Computed(c) == true)
            {
                // a sharded step's time here: its nodes' compute, summed (they run one after another)
                _nodesDone++;
                _lastStepMilliseconds = c.Key == _lastShardedStep ? _lastStepMilliseconds + c.Milliseconds : c.Milliseconds;
                _lastShardedStep = c.Key;
            }
        });
        Receive<Done>(OnDone);
        Receive<WorkerInfoRequest>(_ => Sender.Tell(new WorkerInfo(_engine.Threads, _nodesDone, _lastStepMilliseconds, NumericContract.Reported, NumericContract.Instructions, _server?.Endpoint ?? "", WorkerInfo.CurrentProtocol)));
    }

    public static Props Props(WorkerEngine engine, DataPlaneSettings? dataPlane = null) => Akka.Actor.Props.Create(() => new GradientWorker(engine, dataPlane));

    protected override void PreStart()
    {
        if (_dataPlane is { } settings)
        {
            IActorRef self = Self;
            ILoggingAdapter dataLog = _log;
            _server = new DataPlaneServer(settings.Bind, settings.Port, settings.AdvertisedHost, (message, replies) => self.Tell(new DataPlaneMessage(message, replies)), m => dataLog.Warning(m), _traffic, NodeTrustSetup.Of(Context.System));
            DataPlaneServer server = _server;
            _peers = new PeerLinks(() => server.Endpoint, _traffic, m => dataLog.Warning(m), NodeTrustSetup.Of(Context.System));
            _server.Peers = _peers;
            _replicas = new ReplicaHost(_engine, _peers, _computing, Self, _traffic, _log);
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
                DataFrames.WarmUp(); // after the data: a warm-up that failed must not leave it unloaded
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

    // ---------------------------------------------------------------- the data plane

    private void OnDataPlane(DataPlaneMessage m)
    {
        if (m.Message is WorkAssignment work)
        {
            Enqueue(work, m.Replies);
        }
        else
        {
            _replicas!.Receive(m.Message, m.Replies);
        }
    }

    private sealed record Done(WorkAssignment Work, Exception? Error, double Milliseconds);

    /// <summary>A message that came over the data plane, with its way back.</summary>
    private sealed record DataPlaneMessage(IProtocolMessage Message, IWorkReplies Replies);
}

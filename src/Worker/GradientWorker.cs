using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using CnnCluster.Engine.Kernels;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.Protocol;
using CnnCluster.Shared.Transport;

namespace CnnCluster.Worker;

/// <summary>
/// A worker actor (role `worker`, path /user/worker-N): computes the tree nodes it is assigned, one
/// assignment at a time on a background task using all of its threads, and sends each node's gradient
/// back to the assigning run as soon as it is ready. An assignment queued behind a newer step of the
/// same run is dropped, since its results would be stale.
/// </summary>
public sealed class GradientWorker : ReceiveActor
{
    private readonly WorkerEngine _engine;
    private readonly ChunkAssembler _chunks;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly LinkedList<(WorkAssignment Work, IActorRef ReplyTo)> _queue = new();
    private bool _busy;
    private long _nodesDone;
    private double _lastStepMilliseconds;

    public GradientWorker(WorkerEngine engine)
    {
        _engine = engine;
        _chunks = new ChunkAssembler(Context.System);

        Receive<Chunk>(c =>
        {
            if (_chunks.Add(c, Sender) is { } whole)
            {
                Self.Forward(whole);
            }
        });
        Receive<WorkAssignment>(Enqueue);
        Receive<Done>(OnDone);
        Receive<WorkerInfoRequest>(_ => Sender.Tell(new WorkerInfo(_engine.Threads, _nodesDone, _lastStepMilliseconds, NumericContract.Reported, NumericContract.Instructions)));
    }

    public static Props Props(WorkerEngine engine) => Akka.Actor.Props.Create(() => new GradientWorker(engine));

    protected override void PreStart()
    {
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

    private void Enqueue(WorkAssignment work)
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

        _queue.AddLast((work, Sender));
        StartNext();
    }

    private void StartNext()
    {
        if (_busy || _queue.Count == 0)
        {
            return;
        }

        (WorkAssignment work, IActorRef replyTo) = _queue.First!.Value;
        _queue.RemoveFirst();
        _busy = true;
        ActorSystem system = Context.System;
        IActorRef self = Self;
        WorkerEngine engine = _engine;
        Task.Run(() =>
        {
            var clock = Stopwatch.StartNew();
            try
            {
                engine.Compute(work, result =>
                {
                    // a remote result is on the wire once Tell returns: its buffer can serve the next node
                    if (Chunking.Tell(system, replyTo, result, self) > 0)
                    {
                        GradientBuffers.Shared(result.Gradient.Length).Return(result.Gradient);
                    }
                });
                if (!replyTo.Path.Address.HasLocalScope)
                {
                    // deserialized into a pooled buffer; a local sender's parameters belong to the sender
                    GradientBuffers.Shared(work.Parameters.Length).Return(work.Parameters);
                }

                return new Done(work, null, clock.Elapsed.TotalMilliseconds);
            }
            catch (Exception e)
            {
                replyTo.Tell(new WorkFailed(work.RunId, work.Incarnation, work.Step, e.Message), self);
                return new Done(work, e, clock.Elapsed.TotalMilliseconds);
            }
        }).PipeTo(Self);
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

    private sealed record Done(WorkAssignment Work, Exception? Error, double Milliseconds);
}

using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using CnnCluster.Engine.Data;
using CnnCluster.Engine.Layers;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.DataPlane;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Worker.Sharded;

/// <summary>
/// The replicas of sharded runs this worker holds, used on its actor's thread: one made per run from its
/// <see cref="ReplicaInit"/>, driven by the coordinator's plans, fed by its peers' slices, its nodes
/// computed on the worker's compute thread. A plan for a run it has no replica of is answered out of step
/// (the coordinator sends the run's state again). Slices that come before their replica wait for it
/// (<see cref="EarlySlices"/>). A replica with no plan for <see cref="IdleReplica"/> is dropped when another
/// run's replica is made.
/// </summary>
public sealed class ReplicaHost(WorkerEngine engine, PeerLinks peers, ComputeThread computing, IActorRef worker, DataTraffic traffic, ILoggingAdapter log)
{
    private static readonly TimeSpan IdleReplica = TimeSpan.FromMinutes(5);

    private readonly Dictionary<string, (ShardedReplica Replica, ReplicaPorts Ports)> _replicas = new();
    private readonly EarlySlices _early = new();

    private long _refused; // data-plane messages refused so far (malformed, or one that failed in its handling)

    /// <summary>
    /// A message of the sharded all-reduce that came over the data plane, with its way back. A malformed one
    /// (<see cref="PeerMessageCheck"/>) is refused in one log line; so is one whose handling fails, which must
    /// not end the worker's actor (its restart would lose every replica here).
    /// </summary>
    public void Receive(IProtocolMessage message, IWorkReplies replies) => Receive(message, replies, replies.Peer);

    private void Receive(IProtocolMessage message, IWorkReplies replies, string? from)
    {
        if (PeerMessageCheck.Problem(message) is { } problem)
        {
            Refuse(message, problem);
            return;
        }

        if (message is ISliceMessage && from is null)
        {
            // the data plane delivers a peer's slices only once its connection proved whose it is
            Refuse(message, "a slice on a connection that has not proven which member sent it");
            return;
        }

        try
        {
            Dispatch(message, replies, from);
        }
        catch (Exception e)
        {
            Refuse(message, $"its handling failed: {e.GetType().Name}: {e.Message}");
        }
    }

    private void Refuse(IProtocolMessage message, string why)
    {
        _refused++;
        log.Warning("data plane: refused a {0}: {1} ({2} refused so far)", message.GetType().Name, why, _refused);
    }

    /// <summary>One message to its replica; <paramref name="from"/>, the proven sender, is set for every slice (checked above).</summary>
    private void Dispatch(IProtocolMessage message, IWorkReplies replies, string? from)
    {
        switch (message)
        {
            case ReplicaInit init:
                Init(init, replies);
                break;
            case StepPlan plan when Replica(plan.Ref.RunId, plan.Ref.Incarnation) is { } r:
                ResultFaults.Plan?.Invoke(plan, new ResultFaults.MemberWays(r.Replica.Parameters.Length, (endpoint, m) => peers.Send([endpoint], m, (m as ISliceMessage)?.Values ?? new float[1]), replies.Send));
                r.Ports.Coordinator = replies;
                r.Ports.LastPlan = DateTime.UtcNow;
                r.Replica.OnPlan(plan);
                break;
            case PartsAgreed agreed when Replica(agreed.Ref.RunId, agreed.Ref.Incarnation) is { } r:
                r.Replica.OnPartsAgreed(agreed);
                break;
            case SumsAgreed agreed when Replica(agreed.Ref.RunId, agreed.Ref.Incarnation) is { } r:
                r.Replica.OnSumsAgreed(agreed);
                break;
            case PartsRequest request when Replica(request.Ref.RunId, request.Ref.Incarnation) is { } r:
                r.Replica.OnPartsRequest(request);
                break;
            case StepPlan plan:
                replies.Send(new WorkFailed(plan.Ref.RunId, plan.Ref.Incarnation, plan.Ref.Step, $"{ShardedReplica.OutOfStep} none (no replica of the run here)", WorkFailure.OutOfStep));
                break;
            case SlicePart part when Replica(part.Ref.RunId, part.Ref.Incarnation) is { } r:
                r.Replica.OnPart(part, from!);
                break;
            case SliceSum sum when Replica(sum.Ref.RunId, sum.Ref.Incarnation) is { } r:
                r.Replica.OnSum(sum, from!);
                break;
            case ISliceMessage slice:
                HoldUnlessStale(new PeerSlice(slice, from!));
                break;
        }
    }

    /// <summary>A node computed on the compute thread: to its replica, if it is still there; true when it counted.</summary>
    public bool Computed(NodeComputed c)
    {
        bool counted = false;
        if (Replica(c.Key.RunId, c.Key.Incarnation) is { } r)
        {
            r.Replica.OnNodeComputed(c.Key, c.Node, c.Gradient, c.Loss, c.Milliseconds);
            counted = true;
        }

        GradientBuffers.Shared(c.Gradient.Length).Return(c.Gradient);
        return counted;
    }

    /// <summary>A slice of an incarnation older than the run's replica is stale; one of a replica not made yet is early, and held.</summary>
    private void HoldUnlessStale(PeerSlice slice)
    {
        StepRef key = slice.Message.Ref;
        if (!(_replicas.TryGetValue(key.RunId, out var r) && r.Replica.Incarnation > key.Incarnation))
        {
            _early.Hold(slice, DateTime.UtcNow);
        }
    }

    private (ShardedReplica Replica, ReplicaPorts Ports)? Replica(string runId, long incarnation) =>
        _replicas.TryGetValue(runId, out var r) && r.Replica.Incarnation == incarnation ? r : null;

    private void Init(ReplicaInit init, IWorkReplies coordinator)
    {
        // a run that ended (or moved on without this worker) plans no more steps here: its replica goes
        foreach ((string runId, (ShardedReplica _, ReplicaPorts ports)) in _replicas.ToList())
        {
            if (runId != init.RunId && DateTime.UtcNow - ports.LastPlan > IdleReplica)
            {
                _replicas.Remove(runId);
                log.Info("run {0}: replica dropped (no plan for {1} min)", runId, IdleReplica.TotalMinutes);
            }
        }

        try
        {
            (LabeledImages data, Engine.Models.Network network, ParallelGradient gradient) = engine.Prepare(init.Config, init.DataFingerprint);
            var ports = new ReplicaPorts(this, coordinator, peers, computing, gradient, data, worker, traffic);
            _replicas[init.RunId] = (new ShardedReplica(init, network, data, ports), ports);
            log.Info("run {0}: replica at step {1} ({2:N0} parameters)", init.RunId, init.Step, init.Parameters.Length);
            coordinator.Send(new ReplicaReady(init.RunId, init.Incarnation, init.Step));
        }
        catch (Exception e)
        {
            _replicas.Remove(init.RunId);
            _early.Take(init.RunId, init.Incarnation, DateTime.UtcNow);
            coordinator.Send(new WorkFailed(init.RunId, init.Incarnation, init.Step, e.Message));
            return;
        }

        IReadOnlyList<PeerSlice> early = _early.Take(init.RunId, init.Incarnation, DateTime.UtcNow);
        if (early.Count > 0)
        {
            log.Info("run {0}: {1} slices that came before the replica given to it", init.RunId, early.Count);
            foreach ((ISliceMessage slice, string from) in early)
            {
                Receive(slice, coordinator, from);
            }
        }
    }

    /// <summary>A node of a sharded step, computed on the compute thread (told to the worker actor, which hands it to <see cref="Computed"/>).</summary>
    public sealed record NodeComputed(StepRef Key, TreeNode Node, float[] Gradient, double Loss, double Milliseconds);

    /// <summary>A replica's ways out: its coordinator's connection, the peer links, the compute thread.</summary>
    private sealed class ReplicaPorts(ReplicaHost host, IWorkReplies coordinator, PeerLinks peers, ComputeThread thread, ParallelGradient gradient, LabeledImages data, IActorRef self, DataTraffic traffic) : IReplicaPorts
    {
        /// <summary>The connection of the latest plan (a restarted coordinator connects anew).</summary>
        public IWorkReplies Coordinator { get; set; } = coordinator;

        public DateTime LastPlan { get; set; } = DateTime.UtcNow;

        public (long Sent, long Received) StepTraffic => (traffic.StepSent, traffic.StepReceived);

        public (long Sent, long Received) StateTraffic => (traffic.StateSent, traffic.StateReceived);

        public void ToCoordinator(IProtocolMessage message) => Coordinator.Send(message);

        public void Refused(IProtocolMessage message, string why) => host.Refuse(message, why);

        public void ToMembers(IReadOnlyList<string> endpoints, IProtocolMessage message, float[] pooled) => peers.Send(endpoints, message, pooled);

        public void Compute(StepRef key, float[] parameters, ArraySegment<int> batch, PassContext pass, IReadOnlyList<TreeNode> nodes, Func<bool> current)
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
                        (float[] g, double loss) = WorkerEngine.ComputeNode(gradient, parameters, data, batch, node, pass, key.Step);

                        self.Tell(new NodeComputed(key, node, g, loss, clock.Elapsed.TotalMilliseconds));
                    }
                    catch (Exception e)
                    {
                        replies.Send(new WorkFailed(key.RunId, key.Incarnation, key.Step, e.Message));
                        return;
                    }
                }
            });
        }
    }
}

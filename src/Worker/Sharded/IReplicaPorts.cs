using CnnCluster.Engine.Layers;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Worker.Sharded;

/// <summary>What a replica sends and starts; the worker actor wires it to links and to its compute thread.</summary>
public interface IReplicaPorts
{
    void ToCoordinator(IProtocolMessage message);

    /// <summary>
    /// To the members at <paramref name="endpoints"/> (never this worker). <paramref name="pooled"/>, the
    /// message's array, came from <see cref="GradientBuffers.Shared"/> and goes back there once every copy
    /// of the message is encoded.
    /// </summary>
    void ToMembers(IReadOnlyList<string> endpoints, IProtocolMessage message, float[] pooled);

    /// <summary>
    /// Computes <paramref name="nodes"/> of the step with <paramref name="parameters"/> in the step's <paramref name="pass"/> on the compute thread; each
    /// result comes back through <see cref="ShardedReplica.OnNodeComputed"/> unless <paramref name="current"/> turns false first.
    /// </summary>
    void Compute(StepRef key, float[] parameters, ArraySegment<int> batch, PassContext pass, IReadOnlyList<TreeNode> nodes, Func<bool> current);

    /// <summary>Data-plane bytes (sent, received) of steps so far on this worker, state transfers apart.</summary>
    (long Sent, long Received) StepTraffic { get; }

    /// <summary>Data-plane bytes (sent, received) of whole-state transfers so far on this worker.</summary>
    (long Sent, long Received) StateTraffic { get; }

    /// <summary>A peer's message this replica will not use, and why (logged and counted by the host).</summary>
    void Refused(IProtocolMessage message, string why);
}

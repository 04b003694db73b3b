using CnnCluster.Engine.Layers;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Worker.Sharded;

/// <summary>
/// A replica's commit: with every slice's sum in, the step as the engine alone commits it; the report to the
/// coordinator (the fast checksum from every member, the journal's SHA-256 from one a step, the state's digest and
/// the state itself when asked); and the next step, when its plan came ahead, begun before the hashes are computed.
/// </summary>
public sealed partial class ShardedReplica
{
    private void Commit(Exchange exchange)
    {
        foreach ((SlicePart part, string from) in exchange.TakeUnassigned())
        {
            RefuseUnassigned(exchange, part, from);
        }

        var gradients = new SliceGradient[exchange.Slices.Length];
        for (int k = 0; k < gradients.Length; k++)
        {
            gradients[k] = new SliceGradient(exchange.Slices[k], exchange.Sums[k]!);
        }

        exchange.Committed = true;
        try
        {
            _session.Commit(gradients, exchange.LossSum, exchange.Batch.Count);
        }
        catch (TrainingDivergedException)
        {
            // the coordinator sees the loss and ends the run; this replica stays at the step's start
        }

        foreach (SliceGradient g in gradients)
        {
            GradientBuffers.Shared(g.Gradient.Length).Return(g.Gradient);
        }

        // the state asked for is copied before anything moves on; the next step's plan (sent ahead) begins before the
        // SHA-256s, which read the parameters and velocity while its nodes compute (nothing commits it meanwhile: this
        // actor does that, and its own nodes are not in) — unless it gives this member no node
        ulong checksum = ReplicaChecksum.Of(_session.Parameters);
        ReplicaState? captured = exchange.Plan.Capture
            ? new ReplicaState(RunId, Incarnation, _session.Step, (float[])_session.Parameters.Clone(), (float[])_session.Optimizer.Velocity.Clone())
            : null;
        bool nextFirst = _ahead.GetValueOrDefault(exchange.Key.Step + 1) is { Mine.Length: > 0 };
        if (nextFirst)
        {
            BeginNext();
        }

        // every replica proves it holds the same bits with the fast checksum; the journal's SHA-256 comes from one member a step, in turn
        (long sent, long received) = _ports.StepTraffic;
        (long stateSent, long stateReceived) = _ports.StateTraffic;
        string hash = HashesStep(exchange.Plan) ? ParameterHash.Of(captured?.Parameters ?? _session.Parameters) : "";
        string state = exchange.Plan.Digest ? ParameterHash.OfState(captured?.Parameters ?? _session.Parameters, captured?.Velocity ?? _session.Optimizer.Velocity) : "";
        _ports.ToCoordinator(new StepDone(exchange.Key, hash, exchange.LossSum,
            sent - _trafficAtLastStep.Sent, received - _trafficAtLastStep.Received, stateSent, stateReceived, checksum, state,
            (long)Environment.CpuUsage.TotalTime.TotalMicroseconds));
        _trafficAtLastStep = (sent, received);
        if (captured is not null)
        {
            _ports.ToCoordinator(ResultFaults.State is { } fault ? fault(captured) : captured);
        }

        if (!nextFirst)
        {
            BeginNext();
        }
    }

    private void BeginNext()
    {
        if (_ahead.Count > 0 && _ahead.Keys[0] == _session.Step + 1)
        {
            StepPlan next = _ahead.Values[0];
            _ahead.RemoveAt(0);
            OnPlan(next, held: true);
        }
    }

    private static bool HashesStep(StepPlan plan) => plan.Me == StepPlan.HasherOf(plan.Ref.Step, plan.Members.Length);
}

using CnnCluster.Coordinator.Cluster;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Runs.Steps;

/// <summary>
/// The plans a sharded step sends: a new generation's (each member its nodes, the computers of every node), a
/// late node's second computer told to every member, and the run's state to the workers admitted as members.
/// </summary>
public sealed partial class ShardedExecution<TWorker>
{
    private int MicroShards(int batchSize) => new ShardPlan(batchSize, Context.Config.ShardSize).MicroShards;

    /// <summary>A new generation's plan of <paramref name="step"/> for <paramref name="members"/>, sent to each of them.</summary>
    private ShardedStep<TWorker> Planned(long step, int batchSize, IReadOnlyList<TWorker> members, IReadOnlyList<Dispatch<TWorker>> dispatches)
    {
        bool capture = _group.Waiting.Count > 0 || step % Context.Config.SnapshotEvery == 0 || step % Session.StepsPerEpoch == 0 || step >= Session.TotalSteps;
        if (capture)
        {
            _statesAsked.Asked(step);
        }

        var progress = new ShardedStepProgress<TWorker>(_group.NextGeneration(), members, capture)
        {
            Endpoints = members.Select(_group.EndpointOf).ToArray(),
            Nodes = dispatches.SelectMany(d => d.Nodes).Distinct().OrderBy(n => n.Start).ToArray(),
        };
        if (dispatches.Any(d => d.Reason == DispatchReason.Verify))
        {
            progress.Checks = new StepChecks<TWorker>(members, progress.Nodes, Engine.Models.ParameterSlice.Partition(Session.Network.ParameterCount, members.Count));
        }

        var planned = new ShardedStep<TWorker>(new StepRef(RunId, Context.Incarnation, progress.Generation, step), batchSize, progress) { Dispatches = dispatches };
        TreeNode[][] mine = members.Select(m => dispatches.Where(d => d.Worker.Equals(m)).SelectMany(d => d.Nodes).ToArray()).ToArray();
        for (int k = 0; k < members.Count; k++)
        {
            progress.Assign(members[k], mine[k]);
        }

        int[][] computers = progress.Computers();
        for (int k = 0; k < members.Count; k++)
        {
            Telemetry.Assignments++;
            Workers.Channel(members[k])?.SendOnDataPlane(new StepPlan(planned.Ref, progress.Endpoints, k, progress.Nodes, mine[k], capture && k == 0, Digest: capture, Computers: computers, Checked: progress.Checks is not null));
        }

        return planned;
    }

    /// <summary>
    /// Nodes sent once more during the step (a straggler's): the same plan, with these nodes as the worker's; every
    /// other member gets the plan too, with no node of its own, for the owners to take the new computer's parts.
    /// </summary>
    protected override StepDecision Send(IReadOnlyList<Dispatch<TWorker>> dispatches)
    {
        if (_step is not { } step || dispatches.Count == 0)
        {
            return StepDecision.Pending;
        }

        ShardedStepProgress<TWorker> progress = step.Progress;
        var given = new Dictionary<int, List<TreeNode>>();
        foreach (Dispatch<TWorker> d in dispatches)
        {
            int k = progress.Members.ToList().IndexOf(d.Worker);
            if (k < 0 || Workers.Channel(d.Worker) is null)
            {
                continue;
            }

            Telemetry.Speculative += d.Reason == DispatchReason.Speculative ? 1 : 0;
            Log.Warning($"run {RunId} step {step.Step}: node(s) {string.Join(" ", d.Nodes)} late; also sent to {Context.Name(d.Worker)}");
            progress.Assign(d.Worker, d.Nodes);
            (given.TryGetValue(k, out var nodes) ? nodes : given[k] = []).AddRange(d.Nodes);
        }

        if (given.Count == 0)
        {
            return StepDecision.Working;
        }

        int[][] computers = progress.Computers();
        for (int k = 0; k < progress.Members.Count; k++)
        {
            TreeNode[] mine = given.TryGetValue(k, out var nodes) ? nodes.ToArray() : [];
            Workers.Channel(progress.Members[k])?.SendOnDataPlane(new StepPlan(step.Ref, progress.Endpoints, k, progress.Nodes, mine, Capture: false, Digest: progress.Capture, Computers: computers, Checked: progress.Checks is not null));
        }

        return StepDecision.Working;
    }

    /// <summary>
    /// Sends the run's state to the workers waiting for a replica: members from the next plan on. A first generation
    /// (the run had no member) begins only once their replicas are made (<see cref="ReplicaReady"/>): a later one
    /// does not wait, its members are in the step that brings them in.
    /// </summary>
    private void Admit()
    {
        bool first = _group.Members.Count == 0;
        var admitted = new List<string>();
        foreach ((TWorker worker, (int threads, string _)) in _group.Waiting.ToList())
        {
            // copies: the link encodes them later, and a capture may change the session's before that
            var init = new ReplicaInit(RunId, Context.Incarnation, Context.Config, Context.DataFingerprint, Session.Step, (float[])Session.Parameters.Clone(), (float[])Session.Optimizer.Velocity.Clone());
            if (Workers.Channel(worker)?.SendOnDataPlane(init) != true)
            {
                _group.Remove(worker);
                continue;
            }

            _group.Admit(worker);
            Scheduler.Join(worker, threads, Now);
            if (first)
            {
                _making.Add(worker);
            }

            admitted.Add(Context.Name(worker));
        }

        if (admitted.Count > 0)
        {
            Log.Info($"run {RunId}: replica(s) sent for step {Session.Step} to {string.Join(", ", admitted)}; {_group.Members.Count} member(s) from the next step");
        }
    }
}

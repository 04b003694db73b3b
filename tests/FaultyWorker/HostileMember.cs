using CnnCluster.Engine.Models;
using CnnCluster.Security;
using CnnCluster.Shared.DataPlane;
using CnnCluster.Shared.Protocol;
using CnnCluster.Worker;

namespace CnnCluster.FaultyWorker;

/// <summary>
/// FAULT=hostile: a member holding the cluster's worker certificate that tries every attack issue 30 names, each
/// told on stderr ("attack: ..."), in two rounds at the first plans it gets of two steps:
/// <list type="number">
/// <item>As itself (its own proven links): the sum of a slice it does not own, a part of a node it was not given, the
/// next step's sum of that slice before anyone has its plan, a sum without values and sums and parts of slices out
/// of range. On connections of its own: a sum before saying which member it is, a sum after claiming another
/// member's endpoint, a step plan and a replica's state (only the coordinator sends those). To the coordinator: a
/// poisoned state nobody asked for on its data-plane connection (with the first plan that asks no state of anyone), and, over Akka remoting to the registry, a run's
/// end notice and a worker's quarantine (JSON naming the coordinator's own types, plainly and escaped). Its own
/// computations in this step are honest, so the step commits and the next one's plan finds the early sum.</item>
/// <item>A connection flood on one peer's data plane and a frame larger than its kind may be; and from this step on
/// it forges the sum of the slice it owns (as FAULT=forge-sum), which its checker catches: struck, quarantined.</item>
/// </list>
/// </summary>
internal static class HostileMember
{
    private static int _rounds;
    private static bool _stateSent;
    private static long _firstStep = long.MaxValue;

    public static void Install()
    {
        ClusterTrust? trust = ClusterTrust.FromEnvironment(NodeRole.Worker);
        ResultFaults.Started = RemotingAttacks.Keep;
        ResultFaults.Sum = s =>
        {
            if (s.Ref.Step <= Volatile.Read(ref _firstStep))
            {
                return s;
            }

            Console.Error.WriteLine($"fault: forged the sum of slice {s.Slice} at step {s.Ref.Step}");
            return s with { Values = s.Values.Select(v => v + 0.01f).ToArray() };
        };
        ResultFaults.Plan = (plan, ways) =>
        {
            if (plan.Members.Length < 2)
            {
                return;
            }

            // the state nobody asked for goes with the first plan that asks no state of anyone: on a capture step (a
            // snapshot, an epoch's end, a member waiting to join) a state from another member than member 0 is only
            // stale to the coordinator (a late one of a rerun looks the same), taken without a word
            if (!_stateSent && !plan.Digest)
            {
                _stateSent = true;
                PoisonedState(plan, ways);
            }

            if (plan.Ref.Step <= Volatile.Read(ref _firstStep) && _rounds > 0)
            {
                return;
            }

            // before its replica takes the plan: its own links carry these ahead of anything of its step
            switch (++_rounds)
            {
                case 1:
                    Volatile.Write(ref _firstStep, plan.Ref.Step);
                    AsItself(plan, ways);
                    RemotingAttacks.Send(plan.Ref.RunId, plan.Members);
                    _ = Task.Run(() => OnLinksOfItsOwn(plan, ways.Parameters, trust));
                    break;
                case 2:
                    _ = Task.Run(() => Overload(plan.Members[Other(plan)], trust));
                    break;
            }
        };
    }

    private static float[] Finite(ParameterSlice[] slices, int slice) => Enumerable.Repeat(0.01f, slices[slice].Count).ToArray();

    /// <summary>A slice this member neither owns nor checks (with three members or more; on a checked step a checker may send its slice's sum).</summary>
    private static int Other(StepPlan plan) => (plan.Me + 1) % plan.Members.Length;

    private static void AsItself(StepPlan plan, ResultFaults.MemberWays ways)
    {
        ParameterSlice[] slices = ParameterSlice.Partition(ways.Parameters, plan.Members.Length);
        int other = Other(plan);
        StepRef next = plan.Ref with { Step = plan.Ref.Step + 1, Generation = plan.Ref.Generation + 1 }; // each step's plan is a new generation
        foreach (int victim in Enumerable.Range(0, plan.Members.Length).Where(k => k != plan.Me))
        {
            string at = plan.Members[victim];
            Tell($"as myself, the sum of slice {other} to {at}");
            ways.SendAsMe(at, new SliceSum(plan.Ref, other, 1.0, Finite(slices, other)));
            int given = plan.Computers is null ? -1 : Array.FindIndex(plan.Computers, c => !c.Contains(plan.Me));
            if (given >= 0)
            {
                Tell($"as myself, a part of node {plan.Nodes[given]}, not mine, to {at}");
                ways.SendAsMe(at, new SlicePart(plan.Ref, plan.Nodes[given], victim, 1.0, Finite(slices, victim)));
            }

            Tell($"as myself, an early sum of slice {other} for step {next.Step}, to {at}");
            ways.SendAsMe(at, new SliceSum(next, other, 1.0, Finite(slices, other)));

            Tell($"as myself, a sum without values, a sum of slice 5000 and a part of slice -1, to {at}");
            ways.SendAsMe(at, new SliceSum(plan.Ref, other, 1.0, null!));
            ways.SendAsMe(at, new SliceSum(plan.Ref, 5000, 1.0, Finite(slices, other)));
            ways.SendAsMe(at, new SlicePart(plan.Ref, plan.Nodes.FirstOrDefault(), -1, 1.0, Finite(slices, victim)));
        }
    }

    // a state of the model's size, every parameter off by 1, after the step it was given: nobody asked for it
    private static void PoisonedState(StepPlan plan, ResultFaults.MemberWays ways)
    {
        Tell($"a poisoned state after step {plan.Ref.Step}, unasked, to the coordinator");
        ways.ToCoordinator(new ReplicaState(plan.Ref.RunId, plan.Ref.Incarnation, plan.Ref.Step, Enumerable.Repeat(1f, ways.Parameters).ToArray(), new float[ways.Parameters]));
    }

    private static async Task OnLinksOfItsOwn(StepPlan plan, int parameters, ClusterTrust? trust)
    {
        ParameterSlice[] slices = ParameterSlice.Partition(parameters, plan.Members.Length);
        StepRef key = plan.Ref;
        var links = new List<DataLink>();
        foreach (int victim in Enumerable.Range(0, plan.Members.Length).Where(k => k != plan.Me))
        {
            string at = plan.Members[victim];
            int other = Other(plan);
            Tell($"a sum without saying who I am, to {at}");
            links.Add(Link(at, trust, new SliceSum(key, other, 1.0, Finite(slices, other))));

            Tell($"a sum as {plan.Members[other]}, to {at}");
            links.Add(Link(at, trust, new PeerHello(plan.Members[other]), new SliceSum(key, other, 1.0, Finite(slices, other))));

            Tell($"a step plan, as if I were the coordinator, to {at}");
            links.Add(Link(at, trust, plan with { Me = victim, Mine = [] }));

            Tell($"a replica's state, as if I were the coordinator, to {at}");
            links.Add(Link(at, trust, new ReplicaInit(key.RunId, key.Incarnation, null!, null!, key.Step - 1, new float[parameters], new float[parameters])));
        }

        // long enough for a claim that is never proven to be closed by its receiver
        await Task.Delay(DataPlaneServer.DefaultProofTimeout + TimeSpan.FromSeconds(3)).ConfigureAwait(false);
        links.ForEach(l => l.Dispose());
    }

    /// <summary>More connections than a data plane takes, held a few seconds; then one frame announcing more than its kind may carry.</summary>
    private static async Task Overload(string endpoint, ClusterTrust? trust)
    {
        Tell($"a flood of {DataPlaneServer.MaxConnections + 20} connections, to {endpoint}");
        await RawConnections.Flood(endpoint, DataPlaneServer.MaxConnections + 20, TimeSpan.FromSeconds(3)).ConfigureAwait(false);
        Tell($"a step plan frame of {200 << 20} bytes, to {endpoint}");
        await RawConnections.OversizedFrame(endpoint, trust).ConfigureAwait(false);
    }

    private static DataLink Link(string endpoint, ClusterTrust? trust, params IProtocolMessage[] messages)
    {
        var link = new DataLink(endpoint, _ => { }, _ => { }, trust: trust);
        foreach (IProtocolMessage m in messages)
        {
            link.Send(m);
        }

        return link;
    }

    internal static void Tell(string attack) => Console.Error.WriteLine($"attack: {attack}");
}

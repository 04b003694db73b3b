using System.Collections.Concurrent;
using CnnCluster.Engine.Models;
using CnnCluster.Security;
using CnnCluster.Shared.DataPlane;
using CnnCluster.Shared.Protocol;
using CnnCluster.Worker;

namespace CnnCluster.FaultyWorker;

/// <summary>
/// FAULT=hostile: a member that tries, at the first plan of each of its steps (and generations), every attack on its peers' data planes
/// that issue 30 names, besides forging the sum of the slice it owns (as FAULT=forge-sum): as itself, the sum of a
/// slice it does not own and a part of a node it was not given (finite, of the right length); on connections of its
/// own, a sum before saying which member it is, a sum after claiming another member's endpoint, and a step plan and
/// a replica's state, which only the coordinator sends. Each attack is told on stderr ("attack: ...").
/// </summary>
internal static class HostileMember
{
    private static readonly ConcurrentDictionary<StepRef, bool> Attacked = new();

    public static void Install()
    {
        ClusterTrust? trust = ClusterTrust.FromEnvironment(NodeRole.Worker);
        ResultFaults.Sum = s =>
        {
            Console.Error.WriteLine($"fault: forged the sum of slice {s.Slice} at step {s.Ref.Step}");
            return s with { Values = s.Values.Select(v => v + 0.01f).ToArray() };
        };
        ResultFaults.Plan = (plan, parameters, sendAsMe) =>
        {
            if (plan.Members.Length > 1 && Attacked.TryAdd(plan.Ref, true))
            {
                // before its replica takes the plan: its own links carry these ahead of anything of its step
                AsItself(plan, parameters, sendAsMe);
                _ = Task.Run(() => OnLinksOfItsOwn(plan, parameters, trust));
            }
        };
    }

    private static float[] Finite(ParameterSlice[] slices, int slice) => Enumerable.Repeat(0.01f, slices[slice].Count).ToArray();

    /// <summary>A slice this member neither owns nor checks (with three members or more; on a checked step a checker may send its slice's sum).</summary>
    private static int Other(StepPlan plan) => (plan.Me + 1) % plan.Members.Length;

    private static void AsItself(StepPlan plan, int parameters, Action<string, ISliceMessage> sendAsMe)
    {
        ParameterSlice[] slices = ParameterSlice.Partition(parameters, plan.Members.Length);
        foreach (int victim in Enumerable.Range(0, plan.Members.Length).Where(k => k != plan.Me))
        {
            string at = plan.Members[victim];
            int other = Other(plan);
            Tell($"as myself, the sum of slice {other} to {at}");
            sendAsMe(at, new SliceSum(plan.Ref, other, 1.0, Finite(slices, other)));
            int given = plan.Computers is null ? -1 : Array.FindIndex(plan.Computers, c => !c.Contains(plan.Me));
            if (given >= 0)
            {
                Tell($"as myself, a part of node {plan.Nodes[given]}, not mine, to {at}");
                sendAsMe(at, new SlicePart(plan.Ref, plan.Nodes[given], victim, 1.0, Finite(slices, victim)));
            }
        }
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
        }

        // long enough for a claim that is never proven to be closed by its receiver
        await Task.Delay(DataPlaneServer.DefaultProofTimeout + TimeSpan.FromSeconds(3)).ConfigureAwait(false);
        links.ForEach(l => l.Dispose());
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

    private static void Tell(string attack) => Console.Error.WriteLine($"attack: {attack}");
}

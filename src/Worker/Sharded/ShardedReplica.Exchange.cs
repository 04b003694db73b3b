using CnnCluster.Engine.Layers;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Worker.Sharded;

/// <summary>A replica's view of the step in flight.</summary>
public sealed partial class ShardedReplica
{
    /// <summary>One step of one generation as this replica sees it.</summary>
    private sealed class Exchange(StepRef key, StepPlan plan, ParameterSlice[] slices, ArraySegment<int> batch, PassContext pass)
    {
        public StepRef Key { get; } = key;

        public StepPlan Plan { get; } = plan;

        public ParameterSlice[] Slices { get; } = slices;

        public ArraySegment<int> Batch { get; } = batch;

        /// <summary>The step's pass, taken with its batch: a plan that adds nodes later computes them in the same one.</summary>
        public PassContext Pass { get; } = pass;

        public SliceReduction Mine { get; } = new(plan.Nodes, slices[plan.Me].Count);

        public float[]?[] Sums { get; } = new float[slices.Length][];

        public double LossSum { get; set; }

        public bool Committed { get; set; }

        /// <summary>This replica's share of a checked step; null on others.</summary>
        public StepCheck? Check { get; init; }

        /// <summary>The endpoints of the members given each node (a later plan of the step may add one).</summary>
        public Dictionary<TreeNode, string[]> Computers { get; set; } = new();

        public bool Computes(TreeNode node, string member) => Computers.TryGetValue(node, out string[]? given) && given.Contains(member);

        private readonly List<(SlicePart Part, string From)> _unassigned = new();

        /// <summary>Holds a part from a member not (yet) given its node: at most one per node and member; false when that is full.</summary>
        public bool HoldUnassigned(SlicePart part, string from)
        {
            if (_unassigned.Count >= Computers.Count * Plan.Members.Length)
            {
                return false;
            }

            _unassigned.Add((part, from));
            return true;
        }

        public IReadOnlyList<(SlicePart Part, string From)> TakeUnassigned()
        {
            List<(SlicePart, string)> taken = [.. _unassigned];
            _unassigned.Clear();
            return taken;
        }

        public void Abandon()
        {
            Mine.Abandon();
            Check?.Abandon();
        }
    }
}

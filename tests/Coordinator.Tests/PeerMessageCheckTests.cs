using CnnCluster.Engine.Models;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.Protocol;
using CnnCluster.Worker.Sharded;
using Xunit;

namespace CnnCluster.Coordinator.Tests;

/// <summary>The shape of a data-plane message of a sharded run, checked before it is used: each malformation named.</summary>
public sealed class PeerMessageCheckTests
{
    private static readonly StepRef Key = new("r", 1, 1, 1);
    private static readonly RunConfig Config = RunConfig.From(Presets.LeNet5, "lenet5", new TrainingOptions { BatchSize = 64, ShardSize = 8 }, null, reduction: Reduction.Sharded);

    public static TheoryData<IProtocolMessage, string?> Messages() => new()
    {
        { new StepPlan(Key, ["a:1", "b:2"], 1, [], [], false, Computers: []), null },
        { new StepPlan(Key, ["a:1", "b:2"], 1, [new TreeNode(0, 0)], [], false, Computers: [[0, 1]]), null },
        { new StepPlan(Key, ["a:1", "b:2"], 1, [new TreeNode(0, 0)], [], false), "a plan that does not name a member of its own for each node's computers" },
        { new StepPlan(Key, ["a:1", "b:2"], 1, [new TreeNode(0, 0)], [], false, Computers: []), "for each node's computers" },
        { new StepPlan(Key, ["a:1", "b:2"], 1, [new TreeNode(0, 0)], [], false, Computers: [[2]]), "for each node's computers" },
        { new StepPlan(Key, ["a:1", "b:2"], 1, [new TreeNode(0, 0)], [], false, Computers: [null!]), "for each node's computers" },
        { new StepPlan(Key, null!, 0, [], [], false), "a plan with 0 members (1 to 4096)" },
        { new StepPlan(Key, [], 0, [], [], false), "a plan with 0 members (1 to 4096)" },
        { new StepPlan(Key, new string[PeerMessageCheck.MaxMembers + 1], 0, [], [], false), "a plan with 4097 members (1 to 4096)" },
        { new StepPlan(Key, ["a:1", ""], 0, [], [], false), "a plan with a member without an endpoint" },
        { new StepPlan(Key, ["a:1", "b:2"], 2, [], [], false), "a plan for member 2 of 2" },
        { new StepPlan(Key, ["a:1"], -1, [], [], false), "a plan for member -1 of 1" },
        { new StepPlan(Key, ["a:1"], 0, null!, [], false), "a plan without its nodes" },
        { new StepPlan(Key with { Step = 0 }, ["a:1"], 0, [], [], false), "a step message for step 0 of generation 1" },
        { new StepPlan(Key with { RunId = null! }, ["a:1"], 0, [], [], false), "a step message without a run id" },
        { new SliceSum(Key, 0, 0, [1f]), null },
        { new SliceSum(Key, 0, 0, null!), "the sum of slice 0 without values" },
        { new SliceSum(Key, -1, 0, [1f]), "the sum of slice -1" },
        { new SlicePart(Key, new TreeNode(0, 0), 0, 0, null!), null }, // its owner refuses it to the coordinator (PartRefused)
        { new SlicePart(Key, new TreeNode(0, 0), 5000, 0, [1f]), "a part of slice 5000" },
        { new ReplicaInit("r", 1, Config, "fp", 0, [0f], [0f]), null },
        { new ReplicaInit("", 1, Config, "fp", 0, [0f], [0f]), "a replica's state without a run id" },
        { new ReplicaInit("r", 1, null!, "fp", 0, [0f], [0f]), "without its configuration or data fingerprint" },
        { new ReplicaInit("r", 1, Config, "fp", -1, [0f], [0f]), "a replica's state at step -1" },
        { new ReplicaInit("r", 1, Config, "fp", 0, [0f], [0f, 0f]), "a replica's state with 1 parameters and 2 velocities" },
        { new ReplicaInit("r", 1, Config, "fp", 0, null!, [0f]), "a replica's state with 0 parameters and 1 velocities" },
    };

    [Theory]
    [MemberData(nameof(Messages))]
    public void EachMalformationIsNamed(IProtocolMessage message, string? expected)
    {
        string? problem = PeerMessageCheck.Problem(message);
        if (expected is null)
        {
            Assert.Null(problem);
        }
        else
        {
            Assert.NotNull(problem);
            Assert.Contains(expected, problem);
        }
    }
}

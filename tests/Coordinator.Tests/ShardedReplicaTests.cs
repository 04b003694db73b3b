using CnnCluster.Coordinator.Cluster;
using CnnCluster.Coordinator.Runs.Steps;
using CnnCluster.Engine.Data;
using CnnCluster.Engine.Layers;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Tensors;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.Protocol;
using CnnCluster.Worker.Sharded;
using Xunit;

namespace CnnCluster.Coordinator.Tests;

/// <summary>
/// The sharded all-reduce's replicas without processes or sockets: N <see cref="ShardedReplica"/>s wired
/// through one in-memory queue that delivers every message (and every node's compute) in a seeded random
/// order, driven by plans as the coordinator makes them. Whatever the order, the member count or a member
/// lost mid-step, every replica holds the engine's bits after every step.
/// </summary>
public sealed class ShardedReplicaTests
{
    private const int Batch = 64, Steps = 4;
    private static readonly LabeledImages Data = Runs.ExecutionBench.Data;
    private static readonly RunConfig Config = RunConfig.From(Presets.LeNet5, "lenet5",
        new TrainingOptions { Epochs = 10, BatchSize = Batch, LearningRate = 0.05, ShardSize = 8, Seed = 3, Sgd = new Engine.Optim.SgdOptions(0.9, true, 5e-4) }, null,
        reduction: Reduction.Sharded);

    /// <summary>The engine alone: the hash after each step.</summary>
    private static readonly string[] EngineHashes = Runs.ExecutionBench.EngineHashes(Config, Steps);

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    [InlineData(3, 3)]
    [InlineData(4, 4)]
    [InlineData(8, 5)]
    public void AnyMemberCountAndDeliveryOrderGivesTheEnginesBits(int members, int seed)
    {
        var cluster = new Cluster(members, seed);
        for (long step = 1; step <= Steps; step++)
        {
            IReadOnlyList<StepDone> done = cluster.RunStep(step, generation: (int)step);
            Assert.Equal(members, done.Count);
            Assert.Single(done.Select(d => d.Checksum).Distinct());
            Assert.Equal(EngineHashes[step - 1], done.Single(d => d.ParamSha256.Length > 0).ParamSha256);
        }
    }

    [Fact]
    public void AMemberLostMidStepIsRunAgainByTheOthersFromTheStepsStartEvenWhereItWasCommitted()
    {
        var cluster = new Cluster(3, seed: 9);
        cluster.RunStep(1, generation: 1);

        // step 2: stop as soon as one replica committed it, then lose member 2 with all it had in flight
        cluster.Plan(2, generation: 2, cluster.Members);
        cluster.DeliverUntil(() => cluster.Done.Count >= 1);
        cluster.Lose(2);

        // the others run step 2 again as a new generation, from its start
        IReadOnlyList<StepDone> again = cluster.RunStep(2, generation: 3);
        Assert.Equal(2, again.Count);
        Assert.Equal(EngineHashes[1], again.Single(d => d.ParamSha256.Length > 0).ParamSha256);
        IReadOnlyList<StepDone> next = cluster.RunStep(3, generation: 4);
        Assert.Equal(EngineHashes[2], next.Single(d => d.ParamSha256.Length > 0).ParamSha256);
    }

    /// <summary>
    /// Sums and parts their senders may not send — a sum of the receiver's own slice, of another member's slice
    /// from a member that does not own it, not finite, of the wrong length, of no slice; a part of a node from a
    /// member not given that node — delivered before anything else of the step (after its plan), some of them
    /// finite and of the right length (before each sender was checked, such a sum was taken, first come, and
    /// every replica committed the same wrong bits): each is refused in words, and every replica still commits
    /// the engine's bits.
    /// </summary>
    [Fact]
    public void SumsAndPartsTheirSendersMayNotSendAreRefusedAndTheStepStillHasTheEnginesBits()
    {
        var cluster = new Cluster(3, seed: 4);
        cluster.RunStep(1, generation: 1);
        cluster.Plan(2, generation: 2, cluster.Members);
        for (int k = 0; k < 3; k++)
        {
            cluster.DeliverFirst(); // the plans, so that the forged sums are of the current step
        }

        int slice = ParameterSlice.Partition(Network.Build(Presets.LeNet5).ParameterCount, 3)[1].Count;
        var key = new StepRef("r", 1, 2, 2);
        cluster.Forge(1, new SliceSum(key, 1, 0, new float[slice]), from: 0);
        cluster.Forge(0, new SliceSum(key, 1, 0, Enumerable.Repeat(float.NaN, slice).ToArray()), from: 1);
        cluster.Forge(0, new SliceSum(key, 1, double.PositiveInfinity, new float[slice]), from: 1);
        cluster.Forge(0, new SliceSum(key, 1, 0, Enumerable.Repeat(0.01f, slice).ToArray()), from: 2);
        cluster.Forge(2, new SliceSum(key, 1, 0, new float[slice - 1]), from: 1);
        cluster.Forge(2, new SliceSum(key, 7, 0, new float[slice]), from: 1);
        TreeNode others = cluster.NodesOf(2).First();
        cluster.Forge(1, new SlicePart(key, others, 1, 0, new float[slice]), from: 0);
        cluster.DeliverUntil(() => cluster.Done.Count == 3);

        Assert.Equal(3, cluster.Done.Count);
        Assert.Equal(EngineHashes[1], cluster.Done.Single(d => d.ParamSha256.Length > 0).ParamSha256);
        Assert.Single(cluster.Done.Select(d => d.Checksum).Distinct());
        Assert.Equal(
            [(0, "came from m2, and that slice is m1's"), (0, "has loss Infinity"), (0, "holds NaN at offset 0"), (1, "came from m0, and that slice is this member's own"),
             (1, $"of node {others} came from m0, and the node is given to m2"), (2, $"has {slice - 1} values, the slice has {slice}"), (2, "is of no slice of the step's 3")],
            cluster.Refusals.Select(r => (r.Member, r.Why.Contains(" a part ") ? r.Why[(r.Why.IndexOf(" a part ", StringComparison.Ordinal) + 8)..] : r.Why[(r.Why.IndexOf(" slice ", StringComparison.Ordinal) + 9)..])).Order());
    }

    [Fact]
    public void APlanForAStepTheReplicaIsNotAtIsAnsweredOutOfStep()
    {
        var cluster = new Cluster(2, seed: 1);
        cluster.Plan(3, generation: 1, cluster.Members);
        cluster.DeliverUntil(() => false);
        Assert.All(cluster.Failures, f => Assert.StartsWith(ShardedReplica.OutOfStep, f.Reason));
        Assert.Equal(2, cluster.Failures.Count);
    }

    /// <summary>N replicas and the queue between them; the test plays the coordinator.</summary>
    private sealed class Cluster
    {
        private readonly List<(int Target, Action Deliver)> _queue = new();
        private readonly Random _random;
        private readonly Dictionary<int, ShardedReplica> _replicas = new();

        public Cluster(int members, int seed)
        {
            _random = new Random(seed);
            Network network = Network.Build(Presets.LeNet5);
            float[] parameters = network.InitialParameters(Config.Seed);
            for (int k = 0; k < members; k++)
            {
                var ports = new Ports(this, k, new ParallelGradient(network, Config.ShardSize, 1));
                _replicas[k] = new ShardedReplica(new ReplicaInit("r", 1, Config, "fp", 0, (float[])parameters.Clone(), new float[parameters.Length]), network, Data, ports);
            }
        }

        public List<int> Members => _replicas.Keys.Order().ToList();

        public List<StepDone> Done { get; } = new();

        public List<WorkFailed> Failures { get; } = new();

        /// <summary>What each replica refused, and why.</summary>
        public List<(int Member, string Why)> Refusals { get; } = new();

        /// <summary>Delivers <paramref name="message"/> to member <paramref name="target"/> as member <paramref name="from"/>'s, before anything queued (a forger that is fast).</summary>
        public void Forge(int target, ISliceMessage message, int from) => _queue.Insert(0, (target, () => Deliver(_replicas[target], message, $"m{from}")));

        private static void Deliver(ShardedReplica replica, IProtocolMessage message, string from)
        {
            switch (message)
            {
                case SlicePart part:
                    replica.OnPart(part, from);
                    break;
                case SliceSum sum:
                    replica.OnSum(sum, from);
                    break;
            }
        }

        /// <summary>The nodes member <paramref name="member"/> was given in the last plan.</summary>
        public IReadOnlyList<TreeNode> NodesOf(int member) => _mine[member];

        private TreeNode[][] _mine = [];

        /// <summary>Delivers everything queued now, then <paramref name="stop"/> decides.</summary>
        public void DeliverFirst() => DeliverOne(0);

        private void DeliverOne(int i)
        {
            (int _, Action deliver) = _queue[i];
            _queue.RemoveAt(i);
            deliver();
        }

        /// <summary>The generation planned last: like the coordinator, the test counts only its reports.</summary>
        public int Generation { get; private set; }

        /// <summary>Plans step <paramref name="step"/> among <paramref name="members"/> as the coordinator does: contiguous aligned nodes by member.</summary>
        public void Plan(long step, int generation, List<int> members)
        {
            Done.Clear();
            Generation = generation;
            int m = new ShardPlan(Batch, Config.ShardSize).MicroShards;
            var split = WorkPlanner.Split(m, members.Select(_ => 1).ToList());
            TreeNode[][] mine = members.Select(_ => Array.Empty<TreeNode>()).ToArray();
            foreach ((int w, int first, int count) in split)
            {
                mine[w] = WorkPlanner.Decompose(first, count, m).ToArray();
            }

            TreeNode[] nodes = mine.SelectMany(n => n).OrderBy(n => n.Start).ToArray();
            int[][] computers = nodes.Select(n => new[] { Array.FindIndex(mine, given => given.Contains(n)) }).ToArray();
            _mine = members.Select((_, i) => mine[i]).ToArray();
            string[] endpoints = members.Select(k => $"m{k}").ToArray();
            for (int i = 0; i < members.Count; i++)
            {
                ShardedReplica replica = _replicas[members[i]];
                var plan = new StepPlan(new StepRef("r", 1, generation, step), endpoints, i, nodes, mine[i], false, Computers: computers);
                Enqueue(members[i], () => replica.OnPlan(plan));
            }
        }

        public IReadOnlyList<StepDone> RunStep(long step, int generation)
        {
            Plan(step, generation, Members);
            DeliverUntil(() => Done.Count == _replicas.Count);
            Assert.Equal(_replicas.Count, Done.Count);
            return Done.ToList();
        }

        /// <summary>Delivers queued messages in random order until <paramref name="stop"/> or the queue is empty.</summary>
        public void DeliverUntil(Func<bool> stop)
        {
            while (_queue.Count > 0 && !stop())
            {
                int i = _random.Next(_queue.Count);
                (int _, Action deliver) = _queue[i];
                _queue.RemoveAt(i);
                deliver();
            }
        }

        /// <summary>A member is gone: what was on its way to it is lost with it.</summary>
        public void Lose(int member)
        {
            _replicas.Remove(member);
            _queue.RemoveAll(q => q.Target == member);
        }

        private void Enqueue(int target, Action deliver) => _queue.Add((target, deliver));

        private sealed class Ports(Cluster cluster, int self, ParallelGradient gradient) : IReplicaPorts
        {
            public (long Sent, long Received) StepTraffic => (0, 0);

            public (long Sent, long Received) StateTraffic => (0, 0);

            public void Refused(IProtocolMessage message, string why) => cluster.Refusals.Add((self, why));

            public void ToCoordinator(IProtocolMessage message)
            {
                if (message is StepDone done && done.Ref.Generation == cluster.Generation)
                {
                    cluster.Done.Add(done);
                }
                else if (message is WorkFailed failed)
                {
                    cluster.Failures.Add(failed);
                }
            }

            public void ToMembers(IReadOnlyList<string> endpoints, IProtocolMessage message, float[] pooled)
            {
                foreach (string endpoint in endpoints)
                {
                    ToMember(endpoint, message);
                }

                // encoded: the sender's array goes back to its pool, and may be reused at once
                GradientBuffers.Shared(pooled.Length).Return(pooled);
            }

            private void ToMember(string endpoint, IProtocolMessage message)
            {
                // a member gets its own arrays, as from the wire
                message = message switch
                {
                    SlicePart p => p with { Values = (float[])p.Values.Clone() },
                    SliceSum s => s with { Values = (float[])s.Values.Clone() },
                    _ => message,
                };
                int target = int.Parse(endpoint[1..]);
                cluster.Enqueue(target, () =>
                {
                    if (cluster._replicas.TryGetValue(target, out ShardedReplica? replica))
                    {
                        Deliver(replica, message, $"m{self}");
                    }
                });
            }

            public void Compute(StepRef key, float[] parameters, ArraySegment<int> batch, PassContext pass, IReadOnlyList<TreeNode> nodes, Func<bool> current)
            {
                foreach (TreeNode node in nodes)
                {
                    cluster.Enqueue(self, () =>
                    {
                        if (current() && cluster._replicas.TryGetValue(self, out ShardedReplica? replica))
                        {
                            (float[] g, double loss) = Worker.WorkerEngine.ComputeNode(gradient, parameters, Data, batch, node, pass, key.Step);
                            replica.OnNodeComputed(key, node, g, loss, 0);
                        }
                    });
                }
            }
        }
    }
}

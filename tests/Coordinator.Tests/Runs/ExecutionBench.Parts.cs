using CnnCluster.Coordinator.Runs.Steps;
using CnnCluster.Coordinator.Runs.Workers;
using CnnCluster.Engine.Data;
using CnnCluster.Engine.Layers;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Tensors;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.Protocol;
using CnnCluster.Worker;
using CnnCluster.Worker.Sharded;

namespace CnnCluster.Coordinator.Tests.Runs;

/// <summary>The bench's parts: its data (synthetic images) and the engine alone's hashes it is compared with, its log, the workers' channels and the replicas' ports.</summary>
internal sealed partial class ExecutionBench
{
    /// <summary>The engine alone with the same options: the hash after each step.</summary>
    public static string[] EngineHashes(RunConfig config, int steps)
    {
        Network network = Network.Build(ModelSpecJson.Parse(config.ModelJson));
        var session = new TrainingSession(network, config.ToTrainingOptions(1), Data, null);
        using var gradient = new ParallelGradient(network, config.ShardSize, 1);
        var hashes = new string[steps];
        for (int s = 0; s < steps; s++)
        {
            ArraySegment<int> batch = session.BeginStep();
            (float[] g, double loss) = gradient.Compute(session.Parameters, Data, batch, session.Pass);
            session.Commit(g, loss, batch.Count);
            hashes[s] = ParameterHash.Of(session.Parameters);
        }

        return hashes;
    }

    private static LabeledImages Synthetic(int count)
    {
        var rng = new Rng(17);
        byte[] pixels = new byte[count * 28 * 28], labels = new byte[count];
        for (int i = 0; i < pixels.Length; i++)
        {
            pixels[i] = (byte)(rng.NextUInt64() & 0xff);
        }

        for (int i = 0; i < count; i++)
        {
            labels[i] = (byte)(rng.NextUInt64() % 10);
        }

        return new LabeledImages(new Shape3(1, 28, 28), pixels, labels, 10, 127f, 74f);
    }

    /// <summary>The list a test reads the execution's log from.</summary>
    internal sealed class ListLog : IRunLog
    {
        public List<string> Lines { get; } = new();

        public void Info(string line) => Lines.Add("info: " + line);

        public void Warning(string line) => Lines.Add("warning: " + line);

        public void Error(string line) => Lines.Add("error: " + line);
    }

    /// <summary>A worker's channel: straight into the bench's queue.</summary>
    private sealed class BenchChannel(ExecutionBench bench, string worker, bool dataPlane) : IWorkerChannel
    {
        private bool _akkaOnly = !dataPlane;

        public ChannelKind Kind => _akkaOnly ? ChannelKind.Akka : ChannelKind.DataPlane;

        public long BytesSent => 0;

        public long BytesReceived => 0;

        public TimeSpan Encoding => TimeSpan.Zero;

        public void Send(IProtocolMessage message) => bench.Receive(worker, message);

        public bool SendOnDataPlane(IProtocolMessage message)
        {
            if (_akkaOnly)
            {
                return false;
            }

            bench.Receive(worker, message);
            return true;
        }

        public void FallBackToAkka() => _akkaOnly = true;

        public void ReceivedOverAkka(long bytes)
        {
        }

        public void Dispose()
        {
        }
    }

    /// <summary>A replica's ports: its messages go through the bench's queue, its nodes are computed there.</summary>
    private sealed class ReplicaPorts(ExecutionBench bench, string worker) : IReplicaPorts
    {
        public (long Sent, long Received) StepTraffic => (0, 0);

        public (long Sent, long Received) StateTraffic => (0, 0);

        public void ToCoordinator(IProtocolMessage message) => bench.Answer(worker, message);

        public void Refused(IProtocolMessage message, string why) => throw new InvalidOperationException($"{worker} refused a {message.GetType().Name}: {why}");

        public void ToMembers(IReadOnlyList<string> endpoints, IProtocolMessage message, float[] pooled)
        {
            foreach (string endpoint in endpoints)
            {
                // a member gets its own arrays, as from the wire
                IProtocolMessage copy = message switch
                {
                    SlicePart p => p with { Values = (float[])p.Values.Clone() },
                    SliceSum s => s with { Values = (float[])s.Values.Clone() },
                    _ => message,
                };
                string target = "w" + endpoint[1..], from = "m" + worker[1..];
                copy = bench.PeerFault(worker, target, copy);
                bench.Enqueue(worker + ">" + target, () =>
                {
                    if (bench._replicas.TryGetValue(target, out ShardedReplica? replica))
                    {
                        ToReplica(replica, copy, from);
                    }
                    else
                    {
                        // a peer faster than this worker's own ReplicaInit: kept for the replica it is about to make
                        (bench._early.TryGetValue(target, out var kept) ? kept : bench._early[target] = []).Add((copy, from));
                    }
                });
            }

            GradientBuffers.Shared(pooled.Length).Return(pooled);
        }

        public void Compute(StepRef key, float[] parameters, ArraySegment<int> batch, PassContext pass, IReadOnlyList<TreeNode> nodes, Func<bool> current)
        {
            foreach (TreeNode node in nodes)
            {
                bench.Enqueue("compute>" + worker, () =>
                {
                    if (current() && bench._replicas.TryGetValue(worker, out ShardedReplica? replica))
                    {
                        (float[] g, double loss) = WorkerEngine.ComputeNode(bench.GradientOf(worker), parameters, Data, batch, node, pass, key.Step);
                        replica.OnNodeComputed(key, node, bench.ComputeFault(worker, g), loss, 1);
                    }
                });
            }
        }
    }
}

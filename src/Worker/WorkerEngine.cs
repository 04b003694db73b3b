using System.Diagnostics;
using CnnCluster.Engine.Data;
using CnnCluster.Engine.Layers;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Worker;

/// <summary>
/// The computing part of a worker, apart from the actor: turns an assignment into one result per tree
/// node, on all of this worker's threads. Keeps the last model, gradient machinery and the dataset
/// between steps.
/// </summary>
public sealed class WorkerEngine
{
    private readonly string? _dataDirectory;
    private readonly Lock _dataLock = new();
    private LabeledImages? _fullTrainingSet;
    private (int? Limit, LabeledImages Data, string Fingerprint)? _data;
    private (string ModelJson, int ShardSize, Network Network, ParallelGradient Gradient)? _model;

    public WorkerEngine(int threads, string? dataDirectory)
    {
        Threads = threads;
        _dataDirectory = dataDirectory;
    }

    public int Threads { get; }

    /// <summary>
    /// Computes every node of the assignment; each result is handed to <paramref name="send"/> as soon as
    /// it is ready. Its gradient is a buffer of <see cref="GradientBuffers.Shared"/>, owned by the receiver.
    /// </summary>
    public void Compute(WorkAssignment a, Action<NodeResult> send)
    {
        LabeledImages data = CheckedData(a.DataLimit, a.DataFingerprint);
        (Network network, ParallelGradient gradient) = Model(a.ModelJson, a.ShardSize);
        var batch = new ArraySegment<int>(a.Batch);
        foreach (TreeNode node in a.Nodes)
        {
            var clock = Stopwatch.StartNew();
            (float[] g, double loss) = ComputeNode(gradient, a.Parameters, data, batch, node, a.Pass, a.Step);
            send(new NodeResult(a.RunId, a.Incarnation, a.Step, node, loss, g, clock.Elapsed.TotalMilliseconds));
        }
    }

    /// <summary>What a replica of a run needs on this worker: its training data (checked against the coordinator's), its model and gradient machinery.</summary>
    public (LabeledImages Data, Network Network, ParallelGradient Gradient) Prepare(RunConfig config, string dataFingerprint)
    {
        LabeledImages data = CheckedData(config.DataLimit, dataFingerprint);
        (Network network, ParallelGradient gradient) = Model(config.ModelJson, config.ShardSize);
        return (data, network, gradient);
    }

    /// <summary>
    /// One tree node's summed gradient (a buffer of <see cref="GradientBuffers.Shared"/>) and summed loss of
    /// step <paramref name="step"/>, as every path of the worker computes it (star and sharded): the one place
    /// a test build's faults (<see cref="ResultFaults"/>) break a result.
    /// </summary>
    public static (float[] Gradient, double Loss) ComputeNode(ParallelGradient gradient, float[] parameters, LabeledImages data, ArraySegment<int> batch, TreeNode node, PassContext pass, long step)
    {
        (float[] g, double loss) = gradient.ComputeBlock(parameters, data, batch, new ShardPlan(batch.Count, gradient.ShardSize), node.Level, node.Start >> node.Level, pass);
        if (ResultFaults.Apply is not { } fault)
        {
            return (g, loss);
        }

        NodeResult broken = fault(new NodeResult(string.Empty, 0, step, node, loss, g, 0));
        return (broken.Gradient, broken.LossSum);
    }

    private LabeledImages CheckedData(int? limit, string expectedFingerprint)
    {
        (LabeledImages data, string fingerprint) = Data(limit);
        if (fingerprint != expectedFingerprint)
        {
            throw new InvalidOperationException(
                $"this worker's training data (fingerprint {fingerprint}, from {_dataDirectory ?? "$CNN_DATA or the default"}) differs from the coordinator's ({expectedFingerprint}); give every node the same CNN_DATA");
        }

        return data;
    }

    /// <summary>Loads the full training set ahead of the first assignment (a worker's start-up, not a step's).</summary>
    public void Preload() => Data(null);

    private (LabeledImages Data, string Fingerprint) Data(int? limit)
    {
        lock (_dataLock)
        {
            if (_data is { } cached && cached.Limit == limit)
            {
                return (cached.Data, cached.Fingerprint);
            }

            _fullTrainingSet ??= MnistFormat.Load(_dataDirectory).Train;
            LabeledImages data = limit is int n ? _fullTrainingSet.Take(n) : _fullTrainingSet;
            _data = (limit, data, DataFingerprint.Of(data));
            return (data, _data.Value.Fingerprint);
        }
    }

    private (Network, ParallelGradient) Model(string modelJson, int shardSize)
    {
        if (_model is { } m && m.ModelJson == modelJson && m.ShardSize == shardSize)
        {
            return (m.Network, m.Gradient);
        }

        Network network = Network.Build(ModelSpecJson.Parse(modelJson));
        var gradient = new ParallelGradient(network, shardSize, Threads);
        _model?.Gradient.Dispose();
        _model = (modelJson, shardSize, network, gradient);
        return (network, gradient);
    }
}

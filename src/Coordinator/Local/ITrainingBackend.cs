using CnnCluster.Coordinator.Cluster;
using CnnCluster.Coordinator.Runs;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.Protocol;

namespace CnnCluster.Coordinator.Local;

/// <summary>Who computes a `train` run: the engine on this process's threads, or the cluster.</summary>
public interface ITrainingBackend : IDisposable
{
    /// <summary>Brings up what the backend needs (for the cluster: database, node, workers).</summary>
    void Start(TextWriter output, CancellationToken cancellation);

    /// <summary>The configuration of an existing run (to resume it).</summary>
    RunConfig Describe(string runId);

    BackendResult Train(TrainRequest request, ModelSpec spec, RunData data, ITrainingObserver observer, TextWriter output, CancellationToken cancellation);
}

/// <summary>What a backend reports at the end, besides the step and epoch reports.</summary>
public sealed record BackendResult(long Steps, string ParamSha256, double ImagesPerSecond, int Workers, RunTraffic? Traffic, float[]? Parameters, double[]? PhaseMicroseconds, double? CpuMicrosecondsPerStep = null);

/// <summary>The engine alone: <see cref="Trainer"/> on this process's threads; nothing is persisted.</summary>
public sealed class EngineBackend : ITrainingBackend
{
    public void Start(TextWriter output, CancellationToken cancellation)
    {
    }

    public RunConfig Describe(string runId) => throw new InvalidOperationException("the engine alone keeps no runs; resume through the cluster");

    public BackendResult Train(TrainRequest request, ModelSpec spec, RunData data, ITrainingObserver observer, TextWriter output, CancellationToken cancellation)
    {
        using var trainer = new Trainer(Network.Build(spec), request.Training, data.Train, data.Test);
        trainer.Run(observer, cancellation);
        return new BackendResult(trainer.Step, ParameterHash.Of(trainer.Parameters), trainer.Session.Images / Math.Max(1e-9, trainer.Session.TrainSeconds), 0, null, trainer.Parameters, trainer.Phases.Figures(), trainer.Cpu.MicrosecondsPerStep);
    }

    public void Dispose()
    {
    }
}

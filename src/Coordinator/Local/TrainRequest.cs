using CnnCluster.Engine.Training;

namespace CnnCluster.Coordinator.Local;

/// <summary>What the `train` command was asked to do, after validation.</summary>
public sealed record TrainRequest(
    string Model,
    TrainingOptions Training,
    int? Limit,
    string? DataDirectory,
    string OutputDirectory,
    string RunId);

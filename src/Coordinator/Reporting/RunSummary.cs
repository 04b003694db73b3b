using CnnCluster.Engine.Kernels;
using CnnCluster.Engine.Training;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace CnnCluster.Coordinator.Reporting;

/// <summary>The one-line JSON object that ends every `train` run (DESIGN §6).</summary>
public sealed record RunSummary
{
    [JsonPropertyName("run")]
    public required string Run { get; init; }

    [JsonPropertyName("model")]
    public required string Model { get; init; }

    [JsonPropertyName("parameters")]
    public required int Parameters { get; init; }

    [JsonPropertyName("epochs")]
    public required int Epochs { get; init; }

    [JsonPropertyName("steps")]
    public required long Steps { get; init; }

    [JsonPropertyName("batch_size")]
    public required int BatchSize { get; init; }

    [JsonPropertyName("threads")]
    public required int Threads { get; init; }

    [JsonPropertyName("train_loss")]
    public required double TrainLoss { get; init; }

    [JsonPropertyName("test_loss")]
    public required double TestLoss { get; init; }

    [JsonPropertyName("test_accuracy")]
    public required double TestAccuracy { get; init; }

    /// <summary>Training images per second of the training loop alone (no evaluation, no I/O).</summary>
    [JsonPropertyName("images_per_sec")]
    public required double ImagesPerSecond { get; init; }

    [JsonPropertyName("wall_seconds")]
    public required double WallSeconds { get; init; }

    [JsonPropertyName("param_sha256")]
    public required string ParamSha256 { get; init; }

    [JsonPropertyName("out")]
    public required string OutputDirectory { get; init; }

    /// <summary>The registers this process computed with ("avx512", "avx2", "sse+fma", "sse", "software") and the engine's numeric-contract version: the hash does not depend on the first.</summary>
    [JsonPropertyName("instructions")]
    public string Instructions { get; init; } = NumericContract.Instructions;

    [JsonPropertyName("numeric_contract")]
    public int NumericContractVersion { get; init; } = NumericContract.Version;

    /// <summary>"engine" (this process's threads) or "cluster" (coordinator and worker actors).</summary>
    [JsonPropertyName("mode")]
    public required string Mode { get; init; }

    [JsonPropertyName("workers")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Workers { get; init; }

    /// <summary>Serialized parameter bytes out plus gradient bytes in, per step (cluster mode).</summary>
    [JsonPropertyName("wire_bytes_per_step")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? WireBytesPerStep { get; init; }

    /// <summary>"star" or "sharded" (cluster mode).</summary>
    [JsonPropertyName("reduction")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Reduction { get; init; }

    /// <summary>Each node's data-plane bytes per step as the node counted them (a sharded run), whole-state transfers apart.</summary>
    [JsonPropertyName("node_bytes_per_step")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<NodeBytes>? NodeBytesPerStep { get; init; }

    /// <summary>
    /// CPU microseconds per step of every process that trained, every thread: the engine's own, or a sharded run's
    /// coordinator and worker processes together (<see cref="NodeBytesPerStep"/> has each; in-process workers are the coordinator's).
    /// </summary>
    [JsonPropertyName("cpu_us_per_step")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? CpuMicrosecondsPerStep { get; init; }

    [JsonPropertyName("reassigned_nodes")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? Reassigned { get; init; }

    [JsonPropertyName("speculative_nodes")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? Speculative { get; init; }

    [JsonPropertyName("refused_results")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? RefusedResults { get; init; }

    [JsonPropertyName("verified_nodes")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? VerifiedNodes { get; init; }

    [JsonPropertyName("disagreements")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? Disagreements { get; init; }

    [JsonPropertyName("quarantined")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<string>? Quarantined { get; init; }

    /// <summary>Median microseconds of each step phase (<see cref="StepPhase"/>), as measured by whoever drives the steps, and the mean step.</summary>
    [JsonPropertyName("phases_us")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyDictionary<string, double>? PhaseMicroseconds { get; init; }

    public string ToJsonLine() => JsonSerializer.Serialize(this);
}

/// <summary>One node's mean data-plane bytes per step, its whole-state transfers in all, and its process's CPU microseconds per step.</summary>
public sealed record NodeBytes(
    [property: JsonPropertyName("node")] string Node,
    [property: JsonPropertyName("steps")] long Steps,
    [property: JsonPropertyName("sent")] long Sent,
    [property: JsonPropertyName("received")] long Received,
    [property: JsonPropertyName("state_sent")] long StateSent,
    [property: JsonPropertyName("state_received")] long StateReceived,
    [property: JsonPropertyName("cpu_us_per_step")] double CpuMicrosecondsPerStep)
{
    public static NodeBytes From(Shared.Protocol.NodeTraffic t) => new(
        t.Node, t.Steps, t.Steps > 0 ? t.StepBytesSent / t.Steps : 0, t.Steps > 0 ? t.StepBytesReceived / t.Steps : 0, t.StateBytesSent, t.StateBytesReceived,
        Math.Round(t.CpuMicrosecondsPerStep));
}

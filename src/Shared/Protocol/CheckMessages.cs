using MessagePack;

namespace CnnCluster.Shared.Protocol;

// A checked step of a sharded run (--verify, DESIGN §5): verified nodes are computed by two members and every
// slice's sum by its owner and a checker (the next member). The coordinator agrees on what each part and each
// sum must be, by their SHA-256, and the replicas take only values that match; a sum the owner and checker
// disagree on is settled by the coordinator from the parts themselves, which the agreed digests authenticate.

/// <summary>
/// Coordinator → every member, once each node of a checked step is agreed on: <see cref="Digests"/>[i] is the
/// SHA-256 of each slice's part of <see cref="Nodes"/>[i] (slice after slice). Owners and checkers take a part only if it matches.
/// </summary>
[MessagePackObject]
public sealed record PartsAgreed(
    [property: Key(0)] StepRef Ref,
    [property: Key(1)] TreeNode[] Nodes,
    [property: Key(2)] byte[][] Digests) : IProtocolMessage;

/// <summary>Owner or checker → coordinator: the SHA-256 of the sum it made of slice <see cref="Slice"/> (values and loss).</summary>
[MessagePackObject]
public sealed record SumReport(
    [property: Key(0)] StepRef Ref,
    [property: Key(1)] int Slice,
    [property: Key(2)] byte[] Digest) : IStepMessage;

/// <summary>
/// Coordinator → every member, once each slice's owner and checker reported the same sum: the SHA-256 of every
/// slice's sum, slice after slice. A replica commits the step with the copies (the owner's or the checker's) that match.
/// </summary>
[MessagePackObject]
public sealed record SumsAgreed(
    [property: Key(0)] StepRef Ref,
    [property: Key(1)] byte[] Digests) : IProtocolMessage;

/// <summary>Coordinator → an owner or checker whose sums differ: send the parts of slice <see cref="Slice"/> you summed.</summary>
[MessagePackObject]
public sealed record PartsRequest(
    [property: Key(0)] StepRef Ref,
    [property: Key(1)] int Slice) : IProtocolMessage;

/// <summary>Owner or checker → coordinator: the parts of slice <see cref="Slice"/> it summed (each as it was agreed).</summary>
[MessagePackObject]
public sealed record PartsReply(
    [property: Key(0)] StepRef Ref,
    [property: Key(1)] int Slice,
    [property: Key(2)] SlicePart[] Parts) : IStepMessage;

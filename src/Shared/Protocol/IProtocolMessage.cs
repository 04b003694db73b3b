namespace CnnCluster.Shared.Protocol;

/// <summary>
/// Marks every message of the cluster protocol. The type is bound to <see cref="Serialization.ProtocolSerializer"/>,
/// so nothing of ours travels with Akka's default (JSON) serializer; a test checks every type in this
/// namespace carries the marker.
/// </summary>
public interface IProtocolMessage
{
}

/// <summary>
/// A message about a step in flight, from a worker to its run (a result, a failure, a replica's report):
/// the run hands every one to its step execution, which decides whether the sender may say it now.
/// </summary>
public interface IStepMessage : IProtocolMessage
{
}

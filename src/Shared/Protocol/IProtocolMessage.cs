namespace CnnCluster.Shared.Protocol;

/// <summary>
/// Marks every message of the cluster protocol. The type is bound to <see cref="Serialization.ProtocolSerializer"/>,
/// so nothing of ours travels with Akka's default (JSON) serializer; a test checks every type in this
/// namespace carries the marker.
/// </summary>
public interface IProtocolMessage
{
}

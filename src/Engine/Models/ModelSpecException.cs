namespace CnnCluster.Engine.Models;

/// <summary>A model spec that cannot be built: the message names the layer and the shapes.</summary>
public sealed class ModelSpecException(string message) : Exception(message);

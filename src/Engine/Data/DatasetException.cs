namespace CnnCluster.Engine.Data;

/// <summary>A dataset that is missing, truncated or corrupt. The message names the path and how to get the data.</summary>
public sealed class DatasetException(string message) : Exception(message);

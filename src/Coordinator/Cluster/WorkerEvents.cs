using Akka.Actor;

namespace CnnCluster.Coordinator.Cluster;

// Local messages between the coordinator's own actors (never cross the network).

/// <summary>A run asks the directory for the current workers and later changes.</summary>
public sealed record SubscribeWorkers(IActorRef Subscriber);

/// <summary>What a run needs to know of a worker: its threads (its share of a step) and its data-plane endpoint ("" for none).</summary>
public sealed record WorkerCapacity(int Threads, string DataEndpoint = "");

/// <summary>Directory → subscriber: the workers known right now.</summary>
public sealed record WorkerSet(IReadOnlyDictionary<IActorRef, WorkerCapacity> Workers);

/// <summary>Directory → subscribers: a worker can take work (from the next step).</summary>
public sealed record WorkerJoined(IActorRef Worker, WorkerCapacity Capacity);

/// <summary>Directory → subscribers: a worker is gone or unreachable; its work must move.</summary>
public sealed record WorkerLost(IActorRef Worker, string Reason);

/// <summary>Run → directory: this worker's results failed twice; give it no more work (until its node rejoins).</summary>
public sealed record QuarantineWorker(IActorRef Worker, string Reason);

using CnnCluster.Coordinator.Cluster;
using CnnCluster.Coordinator.Runs;
using CnnCluster.Coordinator.Runs.Steps;
using CnnCluster.Coordinator.Runs.Workers;
using CnnCluster.Engine.Data;
using CnnCluster.Engine.Layers;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Tensors;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.Protocol;
using CnnCluster.Worker;
using CnnCluster.Worker.Sharded;

namespace CnnCluster.Coordinator.Tests.Runs;

/// <summary>
/// A step execution with no actor system: plain workers named "w0", "w1", … that compute for real (a
/// star worker with the engine, a sharded one as a <see cref="ShardedReplica"/>), one queue between them
/// and the execution that delivers every message in a seeded random order (first in, first out on each
/// link, as over TCP), a clock the test moves, and
/// the run's side played as the shell plays it (begin after a commit or a restart). The test sees every
/// decision and every line logged.
/// </summary>
internal sealed partial class ExecutionBench
{
    public const int Batch = 64;
    public static readonly LabeledImages Data = Synthetic(512);

    private readonly Dictionary<string, Queue<Action>> _links = new(); // by link "from>to": ordered within, random across
    private readonly Random _random;
    private readonly Network _network;
    private readonly Dictionary<string, ShardedReplica> _replicas = new();
    private readonly Dictionary<string, ParallelGradient> _gradients = new();
    private readonly Dictionary<string, List<(IProtocolMessage Message, string From)>> _early = new(); // slices that reached a worker before its replica

    public ExecutionBench(RunConfig config, int seed = 1)
    {
        Config = config;
        _random = new Random(seed);
        _network = Network.Build(ModelSpecJson.Parse(config.ModelJson));
        Session = new TrainingSession(_network, config.ToTrainingOptions(1), Data, null);
        Workers = new RunWorkers<string>((w, c) => new BenchChannel(this, w, c.DataEndpoint.Length > 0), _ => false);
        var context = new StepContext<string>("r", 7, config, "fp", Session, Workers, Telemetry, Log, () => Now, StringComparer.Ordinal,
            new SchedulerSettings(TimeSpan.FromSeconds(1), 3, 4, TimeSpan.FromSeconds(5)))
        {
            Quarantine = (w, _, _) => Quarantined.Add(w),
        };
        Execution = StepExecutions.For(context);
    }

    public RunConfig Config { get; }

    public TrainingSession Session { get; }

    public RunWorkers<string> Workers { get; }

    public RunTelemetry Telemetry { get; } = new(meters: false);

    public ListLog Log { get; } = new();

    public IStepExecution<string> Execution { get; }

    public TimeSpan Now { get; set; }

    public List<StepDecision> Decisions { get; } = new();

    /// <summary>The hash after each committed step, in order.</summary>
    public List<string> Hashes { get; } = new();

    public List<string> Quarantined { get; } = new();

    /// <summary>Every message the execution sent, by worker.</summary>
    public List<(string Worker, IProtocolMessage Message)> Sent { get; } = new();

    /// <summary>Changes a worker's answer before it reaches the execution (null: it is dropped).</summary>
    public Func<string, IProtocolMessage, IProtocolMessage?> Fault { get; set; } = (_, m) => m;

    /// <summary>Workers whose replica is gone (they answer every plan out of step, as a worker without one does).</summary>
    public HashSet<string> Forgetful { get; } = new();

    /// <summary>What a worker's node gradient becomes before its replica sees it (a faulty machine's compute), by worker.</summary>
    public Func<string, float[], float[]> ComputeFault { get; set; } = (_, g) => g;

    /// <summary>What a worker's message to a peer becomes on its way (a member that lies to its peers), by sender and receiver.</summary>
    public Func<string, string, IProtocolMessage, IProtocolMessage> PeerFault { get; set; } = (_, _, m) => m;

    public StepDecision Last => Decisions[^1];

    /// <summary>The newest plan <paramref name="worker"/> got of the step in flight (a plan of the step after it may have gone out since).</summary>
    public StepPlan PlanInFlight(string worker) =>
        Sent.Select(s => s.Worker == worker ? s.Message as StepPlan : null).Last(p => p is not null && p.Ref.Step == Execution.InFlight)!;

    /// <summary>The step a worker's replica is exchanging (or last exchanged), and the steps it committed.</summary>
    public (StepRef? Exchanging, long Committed) Replica(string worker) => _replicas.TryGetValue(worker, out ShardedReplica? r) ? (r.Current, r.Step) : (null, -1);

    /// <summary>Workers w{first}…w{first+count-1}, with a data plane ("m{k}") unless told otherwise.</summary>
    public void Join(int count, int first = 0, bool dataPlane = true)
    {
        for (int k = first; k < first + count; k++)
        {
            Apply(Execution.Joined($"w{k}", new WorkerCapacity(1, dataPlane ? $"m{k}" : "")));
        }
    }

    public void Lose(string worker)
    {
        _early.Remove(worker);
        foreach (string link in _links.Keys.Where(l => l.EndsWith(">" + worker, StringComparison.Ordinal) || l.StartsWith(worker + ">", StringComparison.Ordinal)).ToList())
        {
            _links.Remove(link);
        }

        _replicas.Remove(worker);
        Apply(Execution.Lost(worker, "gone in a test"));
    }

    public void Tick() => Apply(Execution.Tick());

    /// <summary>
    /// Begins a step when none is in flight, as the run does after every change; a first generation's members make their
    /// replicas first (the messages queued then are theirs), and the step begins when the last says it is ready.
    /// </summary>
    public void Advance()
    {
        if (Execution.InFlight is null && !Session.Finished)
        {
            Apply(Execution.Begin());
            if (Execution.InFlight is null && Last.Status == StepStatus.Pending)
            {
                DeliverUntil(() => Execution.InFlight is not null);
            }
        }
    }

    /// <summary>Delivers queued messages in random order until <paramref name="stop"/> or nothing is left.</summary>
    public void DeliverUntil(Func<bool> stop)
    {
        while (_links.Count > 0 && !stop())
        {
            string link = _links.Keys.Order(StringComparer.Ordinal).ElementAt(_random.Next(_links.Count));
            Queue<Action> queue = _links[link];
            Action deliver = queue.Dequeue();
            if (queue.Count == 0)
            {
                _links.Remove(link);
            }

            deliver();
        }
    }

    /// <summary>Runs to the end of the session's steps, or of the run (it failed or rewinds), or until nothing moves.</summary>
    public void RunToEnd()
    {
        Advance();
        DeliverUntil(() => (Session.Finished && Execution.InFlight is null) || Decisions.Any(d => d.Status is StepStatus.Fail or StepStatus.Rewind));
    }

    public int Pending => _links.Values.Sum(q => q.Count);

    /// <summary>What the run does with a decision: record it, begin the next step after a commit or a restart, end at a failure.</summary>
    public void Apply(StepDecision decision)
    {
        Decisions.Add(decision);
        if (decision.Status is StepStatus.Fail or StepStatus.Rewind)
        {
            Execution.Abandon();
            return;
        }

        if (decision.Status == StepStatus.Committed)
        {
            Hashes.Add(decision.Hash ?? ParameterHash.Of(Session.Parameters));
        }

        if (decision.Status is StepStatus.Committed or StepStatus.Restart or StepStatus.Resume)
        {
            Advance();
        }
    }

    private ParallelGradient GradientOf(string worker) =>
        _gradients.TryGetValue(worker, out ParallelGradient? g) ? g : _gradients[worker] = new ParallelGradient(_network, Config.ShardSize, 1);

    private void Enqueue(string link, Action deliver) =>
        (_links.TryGetValue(link, out Queue<Action>? queue) ? queue : _links[link] = new Queue<Action>()).Enqueue(deliver);

    /// <summary>A worker's answer on its way to the execution (through the test's fault).</summary>
    private void Answer(string worker, IProtocolMessage message) => Enqueue(worker + ">coordinator", () =>
    {
        if (Fault(worker, message) is { } m)
        {
            Apply(Execution.Handle(worker, m));
        }
    });

    /// <summary>What a worker does with a message from the execution.</summary>
    private void Receive(string worker, IProtocolMessage message)
    {
        Sent.Add((worker, message));
        switch (message)
        {
            case WorkAssignment work:
                foreach (TreeNode node in work.Nodes)
                {
                    Enqueue("compute>" + worker, () =>
                    {
                        (float[] g, double loss) = WorkerEngine.ComputeNode(GradientOf(worker), work.Parameters, Data, work.Batch, node, work.Pass, work.Step);
                        Answer(worker, new NodeResult(work.RunId, work.Incarnation, work.Step, node, loss, g, 1));
                    });
                }

                break;
            case ReplicaInit init:
                Enqueue("coordinator>" + worker, () =>
                {
                    var replica = new ShardedReplica(init with { Parameters = (float[])init.Parameters.Clone(), Velocity = (float[])init.Velocity.Clone() },
                        _network, Data, new ReplicaPorts(this, worker));
                    _replicas[worker] = replica;
                    Answer(worker, new ReplicaReady(init.RunId, init.Incarnation, init.Step));
                    foreach ((IProtocolMessage early, string from) in _early.Remove(worker, out var kept) ? kept : [])
                    {
                        ToReplica(replica, early, from);
                    }
                });
                break;
            case StepPlan plan:
                Enqueue("coordinator>" + worker, () =>
                {
                    if (!Forgetful.Contains(worker) && _replicas.TryGetValue(worker, out ShardedReplica? replica))
                    {
                        replica.OnPlan(plan);
                    }
                    else
                    {
                        Answer(worker, new WorkFailed(plan.Ref.RunId, plan.Ref.Incarnation, plan.Ref.Step, $"{ShardedReplica.OutOfStep} none", WorkFailure.OutOfStep));
                    }
                });
                break;
            case PartsAgreed or SumsAgreed or PartsRequest:
                Enqueue("coordinator>" + worker, () =>
                {
                    if (_replicas.TryGetValue(worker, out ShardedReplica? replica))
                    {
                        switch (message)
                        {
                            case PartsAgreed a:
                                replica.OnPartsAgreed(a);
                                break;
                            case SumsAgreed a:
                                replica.OnSumsAgreed(a);
                                break;
                            case PartsRequest r:
                                replica.OnPartsRequest(r);
                                break;
                        }
                    }
                });
                break;
        }
    }

    private static void ToReplica(ShardedReplica replica, IProtocolMessage message, string from)
    {
        if (message is SlicePart part)
        {
            replica.OnPart(part, from);
        }
        else if (message is SliceSum sum)
        {
            replica.OnSum(sum, from);
        }
    }
}

using CnnCluster.Shared.Protocol;

namespace CnnCluster.Shared.Tests;

/// <summary>One filled-in instance of every protocol message type; a new type without a sample fails the tests.</summary>
internal static class ProtocolSamples
{
    public static readonly RunConfig Config = new("lenet5", "{\"layers\":[]}", 3, 100, 64, 0.03, 0.9, true, 5e-4, "step:2:0.1", 100, 42, 8, 1000);

    public static IReadOnlyDictionary<Type, IProtocolMessage> All { get; } = new IProtocolMessage[]
    {
        Config,
        new TreeNode(4, 2),
        new WorkAssignment("r1", 7, 12, "{}", null, 8, [5, 3, 1], [new TreeNode(0, 2), new TreeNode(4, 1)], [1.5f, -2.25f, float.Epsilon, float.MaxValue], "abcd"),
        new NodeResult("r1", 7, 12, new TreeNode(4, 1), 12.5, [0.1f, 0.2f], 3.5),
        new WorkFailed("r1", 7, 12, "no data"),
        new WorkerInfoRequest(),
        new WorkerInfo(2, 1000, 12.5, 2, "avx2", "10.0.0.7:45123"),
        new SubmitRun("r1", Config),
        new RunAccepted("r1"),
        new RunRejected(null, "bad"),
        new SubscribeRun("r1"),
        new StepCommitted("r1", 5, 100, 0, 0.5, 0.03, 320, 1.5, 2),
        new EpochCompleted("r1", 0, 100, 0.5, 0.4, 0.85, 10, 6400),
        new RunWaiting("r1", 5, "no workers"),
        new RunFinished("r1", 100, "ff00", 10, 6400, new RunTraffic(1, 2, 3, 4, 5, 6, 7)),
        new RunFailed("r1", 5, "diverged"),
        new RunTraffic(1, 2, 3, 4, 5, 6, 7, null, null, new ResultChecks(1, 2, 3, ["akka.tcp://cnncluster@127.0.0.1:1/user/worker-0"])),
        new ResultChecks(0, 0, 0, []),
        new Chunk(99, 0, 2, "WorkAssignment", [1, 2, 3]),
        new RunStarted("r1", Config, "r0", 12),
        new StepRecorded(5, 0, 0.5, 0.03, "ab", 320, 1.5),
        new StepsRecorded([new StepRecorded(6, 0, 0.4, 0.03, "cd", 384, 1.6), new StepRecorded(7, 0, 0.3, 0.03, "ef", 448, 1.7)]),
        new EpochRecorded(0, 100, 0.5, 0.4, 0.85, 10, 6400),
        new SnapshotRecorded(12, 100, 493648, "cd", new DateTime(2026, 11, 26, 0, 0, 0, DateTimeKind.Utc)),
        new SnapshotsPruned(7),
        new SnapshotRejected(12, "checksum"),
        new RunEnded("completed", 100, "ef", null),
        new RunSnapshot("r1", 100, [1f, 2f], [0.5f, -0.5f], 6400, 10, 3.5, 128, "0123"),
        new RunRegistered("r1", Config, null, 0),
        new RunClosed("r1", "completed"),
        new ForkRun("r0", 12, "r1", Config),
        new DescribeRun("r1"),
        new ExportRun("r1"),
        new ModelExport("r1", "{}", 100, [1f, 2f], "ab"),
        new ListRuns(),
        new RunListEntry("r1", "lenet5", "running", null),
        new RunList([new RunListEntry("r1", "lenet5", "completed", "r0")]),
        new RunStatusRequest("r1"),
        new RunStatus("r1", "lenet5", "running", 5, 100, 0.5, null, "ab", 2, null),
        new RunHistoryRequest("r1"),
        new RunHistory("r1", Config, "completed", 2, 1, [new StepRecorded(1, 0, 2.3, 0.01, "ab", 64, 0.5)], [new EpochRecorded(0, 1, 2.3, 2.2, 0.4, 0.5, 128)], [new SnapshotRecorded(3, 1, 1024, "cd", new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Utc))], new RunEnded("completed", 2, "ab", null), "r0"),
        new StopRun("r1"),
        new ListSnapshots("r1"),
        new SnapshotList("r1", [new SnapshotRecorded(1, 2, 3, "c", new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc))]),
        new ListWorkers(),
        new WorkerListEntry("akka.tcp://cnncluster@127.0.0.1:1/user/worker-0", 2, 10, 1.5),
        new WorkerList([new WorkerListEntry("w", 1, 2, 3)]),
        new ReplicaInit("r1", 7, Config with { Reduction = Reduction.Sharded }, "abcd", 12, [1f, 2f], [0.5f, -0.5f]),
        new StepPlan("r1", 7, 3, 13, ["127.0.0.1:5000", "127.0.0.1:5001"], 1, [new TreeNode(0, 2), new TreeNode(4, 2)], [new TreeNode(4, 2)], true),
        new NodeDone("r1", 7, 3, 13, new TreeNode(4, 2), 12.5),
        new StepDone("r1", 7, 3, 13, "ab", 12.75, 246824, 246830, 1000, 2000),
        new ReplicaState("r1", 7, 13, [1f, 2f], [0.5f, -0.5f]),
        new SlicePart("r1", 7, 3, 13, new TreeNode(4, 2), 0, 3.25, [0.1f, -0.2f]),
        new SliceSum("r1", 7, 3, 13, 1, 6.5, [0.3f, 0.4f]),
        new PartRefused("r1", 7, 3, 13, new TreeNode(4, 2), "its loss is NaN"),
        new NodeTraffic("127.0.0.1:5000", 24, 5_923_776, 5_923_900, 0, 493_702),
    }.ToDictionary(m => m.GetType());
}

using System.Diagnostics;
using Akka.Actor;
using Akka.Hosting;
using Akka.Persistence;
using CnnCluster.Coordinator.Persistence;
using PersistenceSettings = CnnCluster.Coordinator.Persistence.PersistenceSettings;
using CnnCluster.Engine.Training;
using CnnCluster.Shared.Protocol;
using CnnCluster.Shared.Serialization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

// Snapshot size and save/load time through Akka.Persistence.Sql, for lenet5-sized and 5 M-parameter
// snapshots, on a SQLite file and on PostgreSQL (PERSISTENCE_CONNECTION, default the one setup.sh
// --test-deps creates). Prints medians over several rounds. Usage: dotnet run -c Release [rounds]
int rounds = args.Length > 0 ? int.Parse(args[0]) : 7;
string pg = Environment.GetEnvironmentVariable("PERSISTENCE_CONNECTION") ?? "Host=127.0.0.1;Port=5432;Username=cnn;Password=cnn;Database=cnncluster";
var stores = new (string Name, PersistenceSettings Settings)[]
{
    ("SQLite", PersistenceSettings.ForSqliteFile(Path.Combine(Path.GetTempPath(), $"cnn-bench-{Environment.ProcessId}.db"))),
    ("PostgreSQL", new PersistenceSettings(PersistenceSettings.PostgreSql, pg)),
};
var models = new (string Name, int Parameters)[] { ("lenet5", 61_706), ("5M dense", 5_088_010) };

Console.WriteLine($"{"store",-11} {"model",-9} {"parameters",10} {"snapshot bytes",15} {"save ms",9} {"load ms",9}   ({rounds} rounds, median)");
foreach ((string storeName, PersistenceSettings settings) in stores)
{
    DatabaseProbe.WaitFor(settings, TimeSpan.FromSeconds(10), Console.Error);
    HostApplicationBuilder builder = Host.CreateApplicationBuilder();
    builder.Services.AddAkka("bench", (akka, _) => akka
        .WithCustomSerializer(ProtocolSerializer.Name, [typeof(IProtocolMessage)], s => new ProtocolSerializer(s))
        .WithRunPersistence(settings));
    using IHost host = builder.Build();
    await host.StartAsync();
    ActorSystem system = host.Services.GetRequiredService<ActorSystem>();
    foreach ((string modelName, int n) in models)
    {
        var rng = new CnnCluster.Engine.Tensors.Rng(1);
        float[] p = Enumerable.Range(0, n).Select(_ => (float)rng.NextGaussian()).ToArray();
        var state = new SessionState(100, p, (float[])p.Clone(), 6400, 1.5, 3.5, 128);
        RunSnapshot snapshot = CnnCluster.Coordinator.Persistence.SnapshotChecksum.Create("bench", state);
        long bytes = ((ProtocolSerializer)system.Serialization.FindSerializerFor(snapshot)).ToBinary(snapshot).Length;
        IActorRef saver = system.ActorOf(Props.Create(() => new Saver($"bench-{modelName.Replace(' ', '-')}-{Guid.NewGuid():N}")));
        var saves = new List<double>();
        var loads = new List<double>();
        for (int r = 0; r < rounds; r++)
        {
            var clock = Stopwatch.StartNew();
            await saver.Ask<SaveSnapshotSuccess>(snapshot, TimeSpan.FromMinutes(2));
            saves.Add(clock.Elapsed.TotalMilliseconds);
            clock.Restart();
            object loaded = await saver.Ask<object>(Saver.Load.Instance, TimeSpan.FromMinutes(2));
            loads.Add(clock.Elapsed.TotalMilliseconds);
            if (loaded is not RunSnapshot { Parameters.Length: var m } || m != n)
            {
                throw new InvalidOperationException($"load returned {loaded}");
            }
        }

        Console.WriteLine($"{storeName,-11} {modelName,-9} {n,10:N0} {bytes,15:N0} {Median(saves),9:F1} {Median(loads),9:F1}");
        system.Stop(saver);
    }

    await host.StopAsync();
}

static double Median(List<double> v) => v.Order().ElementAt(v.Count / 2);

/// <summary>Saves the snapshots it is sent, and loads the newest one back from the store.</summary>
internal sealed class Saver : ReceivePersistentActor
{
    private readonly string _id;
    private IActorRef _replyTo = ActorRefs.Nobody;

    public Saver(string id)
    {
        _id = id;
        Recover<object>(_ => { });
        Command<RunSnapshot>(s =>
        {
            _replyTo = Sender;
            SaveSnapshot(s);
        });
        Command<SaveSnapshotSuccess>(ok => _replyTo.Tell(ok));
        Command<SaveSnapshotFailure>(f => _replyTo.Tell(new Status.Failure(f.Cause)));
        Command<Load>(_ =>
        {
            _replyTo = Sender;
            Akka.Persistence.Persistence.Instance.Apply(Context.System).SnapshotStoreFor(null)
                .Tell(new LoadSnapshot(PersistenceId, SnapshotSelectionCriteria.Latest, long.MaxValue));
        });
        Command<LoadSnapshotResult>(r => _replyTo.Tell(r.Snapshot?.Snapshot ?? "none"));
    }

    public override string PersistenceId => _id;

    public sealed class Load
    {
        public static readonly Load Instance = new();
    }
}

using System.Diagnostics;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Xunit;
using Xunit.Abstractions;

namespace CnnCluster.Coordinator.Tests;

/// <summary>
/// Runs that survive their coordinator (DESIGN §5), against a real SQLite file and a real PostgreSQL
/// server: a run killed with SIGKILL and resumed ends bit-identical to one never interrupted.
/// </summary>
public sealed class PersistenceEndToEndTests(ITestOutputHelper output) : TrainProcesses
{
    // 1,200 of the 1,280 steps of 10 epochs: long enough that a kill or an outage lands mid-run with a fast engine
    private static readonly string[] Common = ["--steps", "1200", "--epochs", "10", "--limit", "8192", "--seed", "21", "--snapshot-every", "50"];

    public static TheoryData<string> Stores => new() { "sqlite", "postgres" };

    [Theory]
    [MemberData(nameof(Stores))]
    public void ACoordinatorKilledMidRunResumesToTheSameParameters(string store)
    {
        string engine = EngineHash([.. Common]);
        (string[] db, Dictionary<string, string>? env) = Store(store);
        string id = $"kill-{store}-{Guid.NewGuid():N}"[..24];

        using (ChildProcess first = StartTrain([.. Common, .. db, "--workers", "1", "--run-id", id], env))
        {
            long at = first.WaitForStep(100, Timeout);
            first.KillHard();
            output.WriteLine($"{store}: coordinator SIGKILLed after step {at} was reported");
            Assert.NotEqual(0, first.WaitForExit(Timeout));
            Assert.DoesNotContain("\"param_sha256\"", first.Stdout);
        }

        JsonElement resumed = Train([.. db, "--resume", id], env);
        Assert.Equal(engine, Hash(resumed));
        Assert.Equal(1200, resumed.GetProperty("steps").GetInt64());
        output.WriteLine($"{store}: killed and resumed run {id} ends with {Hash(resumed)[..16]}, as the engine alone");
    }

    [Fact]
    public void ACorruptSnapshotIsRejectedAndThePreviousOneUsed()
    {
        string db = Path.Combine(Out, "runs.db");
        string engine = EngineHash([.. Common]);
        Assert.Equal(engine, Hash(Train([.. Common, "--db", db, "--run-id", "c1"])));

        // flip bytes in the middle of the newest snapshot (its parameters)
        long seq;
        using (var c = new SqliteConnection($"Data Source={db}"))
        {
            c.Open();
            using SqliteCommand select = c.CreateCommand();
            select.CommandText = "SELECT sequence_number, snapshot FROM snapshot WHERE persistence_id = 'run-c1' ORDER BY sequence_number DESC LIMIT 1";
            using (SqliteDataReader r = select.ExecuteReader())
            {
                Assert.True(r.Read());
                seq = r.GetInt64(0);
                byte[] blob = (byte[])r[1];
                for (int i = blob.Length / 2; i < blob.Length / 2 + 16; i++)
                {
                    blob[i] ^= 0x5a;
                }

                using SqliteCommand update = c.CreateCommand();
                update.CommandText = "UPDATE snapshot SET snapshot = $b WHERE persistence_id = 'run-c1' AND sequence_number = $s";
                update.Parameters.AddWithValue("$b", blob);
                update.Parameters.AddWithValue("$s", seq);
                r.Close();
                Assert.Equal(1, update.ExecuteNonQuery());
            }
        }

        using ChildProcess resume = StartTrain(["--db", db, "--resume", "c1"]);
        JsonElement resumed = Finish(resume);
        Assert.Contains($"snapshot {seq} is unusable", resume.Stderr);
        Assert.Equal(engine, Hash(resumed));

        // the rejection is in the run's journal
        using var check = new SqliteConnection($"Data Source={db}");
        check.Open();
        using SqliteCommand count = check.CreateCommand();
        count.CommandText = "SELECT count(*) FROM journal WHERE persistence_id = 'run-c1' AND manifest = 'SnapshotRejected'";
        Assert.Equal(1L, (long)count.ExecuteScalar()!);
    }

    [Fact]
    public void AForkStartsFromAStoredSnapshotWithItsOwnOptions()
    {
        string db = Path.Combine(Out, "runs.db");
        Train(["--steps", "60", "--limit", "2048", "--snapshot-every", "20", "--keep-snapshots", "5", "--db", db, "--run-id", "source"]);
        long seq = SnapshotsOf(db, "run-source").First();

        string[] fork = ["--fork", $"source:{seq}", "--steps", "20", "--limit", "2048", "--lr", "0.01", "--seed", "3", "--db", db];
        JsonElement a = Train([.. fork, "--run-id", "fork-a"]);
        JsonElement b = Train([.. fork, "--run-id", "fork-b"]);
        JsonElement fresh = Train(["--steps", "20", "--limit", "2048", "--lr", "0.01", "--seed", "3"]);
        Assert.Equal(Hash(a), Hash(b));
        Assert.NotEqual(Hash(fresh), Hash(a));

        // a fork of a snapshot that does not exist is refused with the reason
        using ChildProcess bad = StartTrain(["--fork", "source:99999", "--steps", "5", "--limit", "2048", "--db", db, "--run-id", "fork-c"]);
        Assert.Equal(3, bad.WaitForExit(Timeout));
        Assert.Contains("has no snapshot 99999", bad.Stderr);
    }

    [Fact]
    public void TheExportedModelEvaluatesToTheRunsAccuracy()
    {
        JsonElement run = Train(["--steps", "40", "--limit", "2048", "--run-id", "exp"]);
        string file = Path.Combine(Out, "exp", "model.cnnm");
        using ChildProcess eval = ChildProcess.Start("CnnCluster.Coordinator.dll", ["evaluate", "--model-file", file, "--limit", "2048"]);
        Assert.Equal(0, eval.WaitForExit(Timeout));
        JsonElement e = JsonDocument.Parse(eval.Stdout.Trim().Split('\n')[^1]).RootElement;
        Assert.Equal(run.GetProperty("test_accuracy").GetDouble(), e.GetProperty("test_accuracy").GetDouble(), 6);
        Assert.Equal(Hash(run), Hash(e));

        File.WriteAllBytes(file, File.ReadAllBytes(file)[..^10]);
        using ChildProcess broken = ChildProcess.Start("CnnCluster.Coordinator.dll", ["evaluate", "--model-file", file]);
        Assert.Equal(3, broken.WaitForExit(Timeout));
        Assert.Contains("is not a valid model file", broken.Stderr);
    }

    [Fact]
    public void AnUnreachableDatabaseAtStartIsOneClearErrorAfterRetries()
    {
        var env = new Dictionary<string, string>
        {
            ["PERSISTENCE_PROVIDER"] = "PostgreSQL.15",
            ["PERSISTENCE_CONNECTION"] = $"Host=127.0.0.1;Port={FreePort()};Username=cnn;Password=cnn;Database=cnncluster;Timeout=2",
            ["PERSISTENCE_WAIT_SECONDS"] = "4",
        };
        using ChildProcess p = StartTrain(["--workers", "1", "--steps", "5", "--limit", "512"], env);
        Assert.Equal(3, p.WaitForExit(Timeout));
        Assert.Contains("retrying in 1 s", p.Stdout);
        Assert.Contains("error: cannot reach the database (PostgreSQL 127.0.0.1", p.Stderr);
    }

    [Fact]
    public void APostgresOutageMidRunLosesNothing()
    {
        string engine = EngineHash([.. Common]);
        (string[] _, Dictionary<string, string>? env) = Store("postgres");
        string id = $"outage-{Guid.NewGuid():N}"[..24];
        using ChildProcess run = StartTrain([.. Common, "--workers", "1", "--run-id", id], env);
        run.WaitForStep(100, Timeout);
        Postgres("stop", "-m", "fast");
        try
        {
            Thread.Sleep(4000);
        }
        finally
        {
            Postgres("start");
        }

        JsonElement summary = Finish(run);
        Assert.Equal(engine, Hash(summary));
        Assert.Contains("Persistence failure", run.Stderr);
        output.WriteLine("the run went on after PostgreSQL was down for 4 s, with the engine's parameters");
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public void ASecondCoordinatorOnTheSameStoreIsRefusedNamingTheHolder(string store)
    {
        (string[] args, Dictionary<string, string>? env) = Store(store);
        using ChildProcess first = StartTrain(["--steps", "100000", "--epochs", "1000", "--limit", "4096", "--workers", "1", .. args], env);
        first.WaitForStep(5, Timeout);

        var (code, stdout, stderr) = ChildProcess.Run("CnnCluster.Coordinator.dll", ["train", "--out", Out, "--steps", "5", "--limit", "256", "--workers", "1", .. args], env);
        Assert.Equal(3, code);
        string error = stderr.Trim().Split('\n')[^1];
        Assert.Matches("^error: .* is in use by another coordinator: train on .* pid [0-9]+ .*; one coordinator per store", error);
        Assert.Contains("waiting up to", stdout + stderr); // it first waited in case the holder was dead
        Assert.False(first.HasExited);
    }

    /// <summary>The store on a 2 MiB tmpfs: the run pauses with "disk full", and once the file system has room it resumes by itself, with the engine's hash.</summary>
    [Fact]
    public void AFullDiskPausesTheRunAndItResumesByItselfWhenThereIsRoom()
    {
        string[] common = ["--steps", "1200", "--epochs", "100", "--limit", "4096", "--seed", "7"];
        string engine = EngineHash(common);
        string mount = Directory.CreateDirectory(Path.Combine(Out, "tmpfs")).FullName;
        Privileged("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mount);
        try
        {
            // every snapshot kept: the store grows until the file system is full
            using ChildProcess run = StartTrain([.. common, "--workers", "1", "--reduce", "star", "--db", Path.Combine(mount, "runs.db"), "--snapshot-every", "20", "--keep-snapshots", "1000"]);
            run.WaitForOutput("paused: disk full", Timeout);
            string paused = run.Stdout.Split('\n').First(l => l.Contains("paused: disk full"));
            Privileged("mount", "-o", "remount,size=256m", mount);
            JsonElement summary = Finish(run);
            output.WriteLine($"{paused.Trim()}\nresumed after the remount to 256 MiB");
            Assert.Matches("waiting at step [1-9][0-9]*: paused: disk full", paused);
            Assert.Equal(engine, Hash(summary));
        }
        finally
        {
            Privileged("umount", "-l", mount);
        }
    }

    /// <summary>mount / umount: as root directly, else through `sudo -n` (setup.sh installs with sudo too).</summary>
    private static void Privileged(string tool, params string[] args)
    {
        bool root = Environment.UserName == "root";
        var psi = new ProcessStartInfo(root ? tool : "sudo") { RedirectStandardError = true, RedirectStandardOutput = true };
        if (!root)
        {
            psi.ArgumentList.Add("-n");
            psi.ArgumentList.Add(tool);
        }

        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using Process p = Process.Start(psi)!;
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{tool} {string.Join(' ', args)}: {p.StandardError.ReadToEnd()}");
    }

    private (string[] Args, Dictionary<string, string>? Env) Store(string store) => store == "sqlite"
        ? (["--db", Path.Combine(Out, "runs.db")], null)
        : ([], new Dictionary<string, string> { ["PERSISTENCE_PROVIDER"] = "PostgreSQL.15", ["PERSISTENCE_CONNECTION"] = PostgresConnection });

    private static List<long> SnapshotsOf(string db, string persistenceId)
    {
        using var c = new SqliteConnection($"Data Source={db}");
        c.Open();
        using SqliteCommand cmd = c.CreateCommand();
        cmd.CommandText = "SELECT sequence_number FROM snapshot WHERE persistence_id = $p ORDER BY sequence_number";
        cmd.Parameters.AddWithValue("$p", persistenceId);
        var seqs = new List<long>();
        using SqliteDataReader r = cmd.ExecuteReader();
        while (r.Read())
        {
            seqs.Add(r.GetInt64(0));
        }

        return seqs;
    }

    private static void Postgres(params string[] args)
    {
        string version = Directory.GetDirectories("/usr/lib/postgresql").Select(Path.GetFileName).Max()!;
        var psi = new ProcessStartInfo("pg_ctlcluster") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string a in new[] { version, "main" }.Concat(args))
        {
            psi.ArgumentList.Add(a);
        }

        using Process p = Process.Start(psi)!;
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"pg_ctlcluster {string.Join(' ', args)}: {p.StandardError.ReadToEnd()}");
    }
}

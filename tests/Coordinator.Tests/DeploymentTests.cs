using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using Xunit;
using Xunit.Abstractions;

namespace CnnCluster.Coordinator.Tests;

/// <summary>
/// docker-compose.yml is valid and shaped for scaling; deploy/local-cluster.sh (the same topology as
/// processes) scales workers up and down in the middle of a run without changing its result.
/// </summary>
public sealed class DeploymentTests(ITestOutputHelper output) : TrainProcesses
{
    private static readonly string Repo = FindRepo();

    [Fact]
    public void TheComposeFileIsValidAndItsWorkersScale()
    {
        (int code, string stdout, string stderr) = Run("docker-compose", ["-f", Path.Combine(Repo, "docker-compose.yml"), "config"], null);
        Assert.True(code == 0, stderr);
        string worker = Regex.Match(stdout, @"\n  worker:\n(.*?)(\n  \w|\nvolumes:|\Z)", RegexOptions.Singleline).Groups[1].Value;
        Assert.DoesNotContain("hostname:", worker);
        Assert.DoesNotContain("container_name:", worker);
        Assert.Contains("restart: on-failure", worker);
        Assert.Contains("stop_grace_period: 30s", worker);
        // pbm published on loopback only (short or long syntax, depending on the compose version)
        Assert.Matches(@"127\.0\.0\.1:9110:9110|host_ip: 127\.0\.0\.1[\s\S]*published: ""?9110", stdout);
        Assert.Contains("condition: service_healthy", stdout);
        foreach (string variable in new[] { "CLUSTER_SEEDS", "CLUSTER_HOSTNAME", "CLUSTER_PORT", "PBM_HOST", "PBM_PORT", "PERSISTENCE_PROVIDER", "PERSISTENCE_CONNECTION", "CNN_DATA" })
        {
            Assert.Contains(variable, stdout);
        }
    }

    [Fact]
    public void TheComposeCoordinatorIsHealthCheckedAndItsWorkersWaitForItsReadiness()
    {
        (int code, string stdout, string stderr) = Run("docker-compose", ["-f", Path.Combine(Repo, "docker-compose.yml"), "config"], null);
        Assert.True(code == 0, stderr);
        string Service(string name) => Regex.Match(stdout, $@"\n  {name}:\n(.*?)(\n  \w|\nvolumes:|\Z)", RegexOptions.Singleline).Groups[1].Value;

        // the coordinator's readiness is `coordinator health` (GET /readyz), on the dashboard's port published on loopback only
        string coordinator = Service("coordinator");
        Assert.Matches(@"healthcheck:\s+interval: \S+\s+retries: \d+\s+start_period: \S+\s+test:\s+- CMD\s+- coordinator\s+- health\s", coordinator);
        Assert.Matches(@"127\.0\.0\.1:9111:9111|host_ip: 127\.0\.0\.1[\s\S]*published: ""?9111", coordinator);
        Assert.DoesNotMatch(@"- ""?(0\.0\.0\.0:)?9111:9111", coordinator);
        Assert.Matches(@"HTTP_PORT: ['""]?9111", coordinator);

        // workers start once it is ready, and carry no HTTP health check of their own
        string worker = Service("worker");
        Assert.Matches(@"coordinator:\s+condition: service_healthy", worker);
        Assert.Matches(@"healthcheck:\s+(disable: true|test:\s+- NONE)", worker); // compose v2 | v1's rendering

        // the image: ASP.NET Core's runtime, a non-root user, the health check through the coordinator's own command
        string dockerfile = File.ReadAllText(Path.Combine(Repo, "deploy", "Dockerfile"));
        // (the real image unless deploy/base-images/make.sh names a local stand-in: tests/Compose builds and runs it)
        Assert.Contains("ARG RUNTIME_IMAGE=mcr.microsoft.com/dotnet/aspnet:10.0", dockerfile);
        Assert.Matches(@"(?m)^FROM \$\{RUNTIME_IMAGE\}$", dockerfile);
        Assert.Matches(@"(?m)^USER app$", dockerfile);
        Assert.Matches(@"(?m)^HEALTHCHECK .*CMD \[""coordinator"", ""health""\]$", dockerfile);
        // the secrets are written as root and handed to the nodes' user
        Assert.Contains("chown -R app:app /secrets/coordinator /secrets/worker /secrets/pbm", Service("secrets"));
    }

    [Fact]
    public void TheComposeFileMakesItsSecretsFirstHoldsNoneAndGivesEachServiceOnlyItsOwn()
    {
        (int code, string stdout, string stderr) = Run("docker-compose", ["-f", Path.Combine(Repo, "docker-compose.yml"), "config"], null);
        Assert.True(code == 0, stderr);
        string Service(string name) => Regex.Match(stdout, $@"\n  {name}:\n(.*?)(\n  \w|\nvolumes:|\Z)", RegexOptions.Singleline).Groups[1].Value;

        // the init service writes every holder's volume with our own command, once, before anything else starts
        string secrets = Service("secrets");
        Assert.Matches(@"- coordinator\s+- secrets\s+- --out\s+- /secrets", secrets);
        Assert.Contains("secrets:/secrets:rw", secrets);
        (string Service, string Volume)[] holders = [("postgres", "database-secrets"), ("coordinator", "coordinator-secrets"), ("worker", "worker-secrets"), ("pbm", "pbm-secrets")];
        foreach ((string node, string volume) in holders)
        {
            Assert.Contains($"{volume}:/secrets/{volume.Replace("-secrets", "")}:rw", secrets);
            string service = Service(node);
            Assert.Contains($"{volume}:/secrets:ro", service);
            // ... and only its own: never the authority's volume (the CA key), never another holder's
            Assert.DoesNotMatch(@"(?m)^\s+- secrets:", service);
            Assert.All(holders.Where(h => h.Volume != volume), other => Assert.DoesNotContain(other.Volume + ":", service));
            if (node != "pbm")
            {
                Assert.Matches(@"secrets:\s+condition: service_completed_successfully", service);
            }
        }

        // every node has the cluster's trust, so both bind 0.0.0.0 with TLS; pbm's token comes from the volume
        foreach (string node in new[] { "coordinator", "worker" })
        {
            Assert.Contains("CLUSTER_SECRETS: /secrets", Service(node));
            Assert.DoesNotContain("CLUSTER_INSECURE", Service(node));
            Assert.DoesNotContain("PBM_TOKEN:", Service(node));
        }

        // no literal secret: the passwords are generated files; the superuser's stays in the database's container,
        // the cluster's role (not a superuser: deploy/postgres-init) is what the coordinator logs in as
        Assert.Contains("POSTGRES_PASSWORD_FILE: /secrets/postgres.password", Service("postgres"));
        Assert.Contains("CNN_DB_PASSWORD_FILE: /secrets/db.password", Service("postgres"));
        Assert.Contains("/docker-entrypoint-initdb.d:ro", Service("postgres"));
        Assert.Contains("PERSISTENCE_PASSWORD_FILE: /secrets/db.password", Service("coordinator"));
        Assert.DoesNotMatch(@"(?i)password\s*[=:]\s*(?!/secrets)", stdout.Replace("POSTGRES_PASSWORD_FILE", "").Replace("PERSISTENCE_PASSWORD_FILE", "").Replace("CNN_DB_PASSWORD_FILE", ""));
    }

    [Fact]
    public void SecretsNamesWhatUsersConnectToAndABadNameIsOneLine()
    {
        string folder = Path.Combine(Out, "secrets");
        var made = ChildProcess.Run("CnnCluster.Coordinator.dll", ["secrets", "--out", folder, "--name", "cnn.example.org"]);
        Assert.True(made.Code == 0, made.Stderr);
        Assert.Contains("wrote ca.crt, ca.key, pbm/pbm.token, database/db.password, database/postgres.password, pbm/ca.crt, coordinator/ca.crt", made.Stdout);
        var again = ChildProcess.Run("CnnCluster.Coordinator.dll", ["secrets", "--out", folder, "--name", "10.1.2.3"]);
        Assert.Contains("wrote coordinator/node.pfx, worker/node.pfx in", again.Stdout);
        var renewed = ChildProcess.Run("CnnCluster.Coordinator.dll", ["secrets", "--out", folder, "--renew"]);
        Assert.Contains("wrote coordinator/node.pfx, worker/node.pfx in", renewed.Stdout);

        var bad = ChildProcess.Run("CnnCluster.Coordinator.dll", ["secrets", "--out", folder, "--name", "two words"]);
        Assert.Equal(2, bad.Code);
        Assert.Equal("error: --name 'two words' is neither a DNS name nor an IP address (e.g. cnn.example.org, 10.0.0.5)", bad.Stderr.Trim());
    }

    [Fact]
    public void TheDatabasePasswordFromAFileReachesPostgreSql()
    {
        string file = Path.Combine(Out, "db.password");
        File.WriteAllText(file, new Npgsql.NpgsqlConnectionStringBuilder(PostgresConnection).Password + "\n");
        string withoutPassword = new Npgsql.NpgsqlConnectionStringBuilder(PostgresConnection) { Password = null }.ToString();
        var env = new Dictionary<string, string>
        {
            ["PERSISTENCE_PROVIDER"] = "PostgreSQL.15",
            ["PERSISTENCE_CONNECTION"] = withoutPassword,
            ["PERSISTENCE_PASSWORD_FILE"] = file,
            ["PERSISTENCE_WAIT_SECONDS"] = "5",
        };
        JsonElement summary = Train(["--steps", "3", "--limit", "512", "--workers", "1"], env);
        Assert.Equal(3, summary.GetProperty("steps").GetInt64());

        env["PERSISTENCE_PASSWORD_FILE"] = Path.Combine(Out, "missing");
        (int code, string _, string stderr) = ChildProcess.Run("CnnCluster.Coordinator.dll", ["train", "--steps", "3", "--limit", "512", "--workers", "1", "--out", Out], env);
        Assert.Equal(3, code);
        Assert.StartsWith("error: PERSISTENCE_PASSWORD_FILE", Assert.Single(stderr.TrimEnd().Split('\n')));
    }

    [Fact]
    public void ALocalClusterScaledUpAndDownMidRunEndsWithTheFixedWorkerResult()
    {
        // long enough that scaling happens mid-run even with a fast engine: all 5,120 steps of 10 epochs (1,800
        // were too few on the AVX-512 machine: the run ended before the scale-down)
        string[] run = ["--steps", "5120", "--epochs", "10", "--limit", "32768", "--seed", "5"];
        string expected = Hash(Train(run));
        var env = new Dictionary<string, string>
        {
            ["LOCAL_CLUSTER_DIR"] = Path.Combine(Out, "cluster"),
            ["CLUSTER_PORT"] = FreePort().ToString(),
            ["PBM_PORT"] = FreePort().ToString(),
            ["HTTP_PORT"] = "0",
            ["CNN_BIN"] = AppContext.BaseDirectory,
        };
        string pbmEndpoint = $"127.0.0.1:{env["PBM_PORT"]}";
        try
        {
            Cluster(env, "up", "2");
            (int _, string submitted, string _) = Pbm(pbmEndpoint, "train", "submit", "-m", "lenet5", "--steps", "5120", "-e", "10", "--limit", "32768", "--seed", "5");
            string id = submitted.Trim().Split('\n')[^1].Trim();
            WaitForStep(pbmEndpoint, id, 100);
            Cluster(env, "scale", "4");
            long at4 = WaitForStep(pbmEndpoint, id, 0);
            Thread.Sleep(1500);
            WaitForStep(pbmEndpoint, id, at4 + 100);
            Cluster(env, "scale", "1");
            long at1 = WaitForStep(pbmEndpoint, id, 0);
            (int code, string tail, string err) = Pbm(pbmEndpoint, "train", "tail", "-r", id);
            Assert.True(code == 0, err);
            Assert.Contains($"param_sha256 {expected}", tail);
            Assert.True(at1 < 5120, "the run ended before the scale-down");
            output.WriteLine($"scaled to 4 workers at step {at4}, to 1 at step {at1} of 5120; final hash {expected[..16]} as with a fixed worker count");
        }
        finally
        {
            Cluster(env, "down");
        }
    }

    [Fact]
    public void ALocalClusterWithoutItsCoordinatorSaysSoAtOnceAndStartsNothing()
    {
        var env = new Dictionary<string, string>
        {
            ["LOCAL_CLUSTER_DIR"] = Path.Combine(Out, "nothing"),
            ["CLUSTER_PORT"] = FreePort().ToString(),
            ["PBM_PORT"] = FreePort().ToString(),
            ["CNN_BIN"] = AppContext.BaseDirectory,
        };
        var clock = Stopwatch.StartNew();
        foreach (string[] args in new[] { new[] { "scale", "2" }, ["status"] })
        {
            (int code, string stdout, string stderr) = Run(Path.Combine(Repo, "deploy", "local-cluster.sh"), args, env);
            Assert.Equal(3, code);
            Assert.Contains("no coordinator", Assert.Single(stderr.Trim().Split('\n')));
            Assert.Equal("", stdout);
        }

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"took {clock.Elapsed}");
        Assert.Empty(Directory.GetFiles(env["LOCAL_CLUSTER_DIR"], "worker-*.pid"));
    }

    private static long WaitForStep(string endpoint, string id, long atLeast)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            (int _, string status, string _) = Pbm(endpoint, "train", "status", "-r", id);
            Match m = Regex.Match(status, @"step: (\d+)/");
            if (m.Success && long.Parse(m.Groups[1].Value) >= atLeast)
            {
                return long.Parse(m.Groups[1].Value);
            }

            Assert.True(clock.Elapsed < TimeSpan.FromMinutes(2), $"run {id} did not reach step {atLeast}: {status}");
            Thread.Sleep(200);
        }
    }

    private static void Cluster(Dictionary<string, string> env, params string[] args)
    {
        (int code, string stdout, string stderr) = Run(Path.Combine(Repo, "deploy", "local-cluster.sh"), args, env);
        Assert.True(code == 0, $"local-cluster.sh {string.Join(' ', args)}: {stdout}\n{stderr}");
    }

    private static (int Code, string Stdout, string Stderr) Pbm(string endpoint, params string[] args) => ChildProcess.Run("pbm.dll", [endpoint, .. args]);

    private static (int Code, string Stdout, string Stderr) Run(string file, string[] args, IReadOnlyDictionary<string, string>? env)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        foreach ((string k, string v) in env ?? new Dictionary<string, string>())
        {
            psi.Environment[k] = v;
        }

        using Process p = Process.Start(psi)!;
        p.StandardInput.Close();
        Task<string> stdout = p.StandardOutput.ReadToEndAsync();
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish");
        }

        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    private static string FindRepo()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "docker-compose.yml")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("docker-compose.yml not found above the test folder");
    }
}

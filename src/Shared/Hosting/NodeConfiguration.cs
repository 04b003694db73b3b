using Microsoft.Extensions.Configuration;

namespace CnnCluster.Shared.Hosting;

/// <summary>A setting a node reads: its key (an environment variable, or a field of cnncluster.json), default and meaning.</summary>
public sealed record Setting(string Key, string Default, string Meaning);

/// <summary>
/// A node's configuration: environment variables, then an optional JSON file (`cnncluster.json` in the working
/// directory, or the file CNNCLUSTER_CONFIG names) read with Microsoft.Extensions.Configuration. <see cref="Load"/>
/// runs first in every node's Main and puts each setting the file gives, and the environment does not, into the
/// process environment, so every part (the engine, the settings records, child worker processes) reads one
/// source. The file may hold only the settings of <see cref="All"/>, the one documented table (README's is
/// checked against it).
/// </summary>
public static class NodeConfiguration
{
    public const string FileVariable = "CNNCLUSTER_CONFIG";
    public const string DefaultFile = "cnncluster.json";

    public static IReadOnlyList<Setting> All { get; } =
    [
        new("CLUSTER_HOSTNAME", "127.0.0.1", "the address other nodes reach this node at"),
        new("CLUSTER_BIND", "CLUSTER_HOSTNAME", "the address this node listens on (0.0.0.0 in containers)"),
        new("CLUSTER_PORT", "4053 (serve), 0 (worker: any free port)", "this node's cluster (remoting) port"),
        new("CLUSTER_SEEDS", "itself (serve)", "comma-separated host:port of the seed nodes"),
        new("CLUSTER_SECRETS", "none", "the folder `coordinator secrets --out DIR` wrote, or its coordinator/ or worker/ folder (this node's certificate, the CA, the token's digest): mutual TLS on every port"),
        new("CLUSTER_INSECURE", "0", "1 allows a non-loopback address without TLS (never on a network you do not own)"),
        new("DATA_PORT", "0 (any free port)", "a worker's data-plane port (sharded all-reduce)"),
        new("CNN_DATA", "/usr/share/datasets/fashion-mnist", "directory of the IDX training and test files"),
        new("CNN_LOG_LEVEL", "Warning (train), Information (serve, worker)", "Trace, Debug, Information, Warning or Error"),
        new("CNN_NUMERIC_CONTRACT", "the build's", "the numeric contract this worker claims (tests only)"),
        new("MODELS_DIR", "./models", "the coordinator's folder of JSON model specs that `pbm train submit -m NAME` may name"),
        new("PBM_HOST", "127.0.0.1", "the address pbm is served on"),
        new("PBM_PORT", "9110", "the pbm port"),
        new("PBM_TOKEN", "none (loopback only)", "the token pbm clients must present"),
        new("PBM_TOKEN_FILE", "$CLUSTER_SECRETS/pbm/pbm.token (nodes: its digest)", "a file holding the pbm token"),
        new("PBM_CA", "$CLUSTER_SECRETS/pbm/ca.crt", "pbm client: the CA a node must chain to"),
        new("PBM_HISTORY", "~/.pbm_history", "pbm client: the interactive history file"),
        new("HTTP_HOST", "127.0.0.1", "the address of the coordinator's dashboard, /metrics and health endpoints"),
        new("HTTP_PORT", "9111 (0: off)", "their port"),
        new("PERSISTENCE_PROVIDER", "SQLite.MS", "SQLite.MS or PostgreSQL"),
        new("PERSISTENCE_CONNECTION", "Data Source=./data/cnncluster.db", "the store's connection string"),
        new("PERSISTENCE_PASSWORD_FILE", "none (compose: the coordinator's /secrets/db.password)", "a file holding the database password"),
        new("PERSISTENCE_WAIT_SECONDS", "60", "how long a node waits for its database at start"),
        new("RUN_PASSIVATE_SECONDS", "30", "how long an ended run's actor stays after its last query"),
        new("WORKER_THREADS", "all cores", "threads of a worker process"),
        new("WORKER_ACTORS", "1", "worker actors in a worker process"),
    ];

    /// <summary>
    /// Reads the configuration file, if any, into the process environment (the environment wins); returns the
    /// file read, or null. Throws <see cref="ArgumentException"/> with one line for a file that is not JSON, a
    /// setting that is not one of <see cref="All"/>, or a named file that does not exist.
    /// </summary>
    public static string? Load(Func<string, string?>? env = null, Action<string, string>? set = null)
    {
        env ??= Environment.GetEnvironmentVariable;
        set ??= Environment.SetEnvironmentVariable;
        string? named = env(FileVariable);
        string path = Path.GetFullPath(string.IsNullOrWhiteSpace(named) ? DefaultFile : named);
        if (!File.Exists(path))
        {
            return named is null ? null : throw new ArgumentException($"{FileVariable} names {path}, which does not exist");
        }

        IConfigurationRoot file;
        try
        {
            file = new ConfigurationBuilder().AddJsonFile(path, optional: false, reloadOnChange: false).Build();
        }
        catch (Exception e) when (e is FormatException or InvalidDataException or System.Text.Json.JsonException)
        {
            throw new ArgumentException($"{path} is not a JSON object of settings: {(e.InnerException ?? e).Message.ReplaceLineEndings(" ")}");
        }

        foreach (IConfigurationSection section in file.GetChildren())
        {
            Setting? setting = All.FirstOrDefault(s => string.Equals(s.Key, section.Key, StringComparison.OrdinalIgnoreCase));
            if (setting is null || section.Value is null)
            {
                string? near = PbmProtocol.DidYouMean.Closest(section.Key, All.Select(s => s.Key));
                throw new ArgumentException(setting is null
                    ? $"{path}: '{section.Key}' is not a setting{(near is null ? string.Empty : $"; did you mean '{near}'?")} (README lists them)"
                    : $"{path}: '{section.Key}' must be a string or a number, not an object or a list");
            }

            if (string.IsNullOrEmpty(env(setting.Key)))
            {
                set(setting.Key, section.Value);
            }
        }

        return path;
    }
}

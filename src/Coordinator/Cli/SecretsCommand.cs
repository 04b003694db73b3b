using System.CommandLine;
using CnnCluster.Security;

namespace CnnCluster.Coordinator.Cli;

/// <summary>
/// `secrets --out DIR`: the cluster's secrets folder (<see cref="ClusterSecrets"/>): its own certificate
/// authority, the node certificate, the pbm token and the database password. Files that exist are kept, so
/// compose's `secrets` service runs it at every start and only the first one writes. Nodes read the folder
/// from CLUSTER_SECRETS; pbm clients too (or PBM_CA and PBM_TOKEN / PBM_TOKEN_FILE).
/// </summary>
internal static class SecretsCommand
{
    private static readonly Option<string> Out = new("--out") { Description = "the folder to write (made if missing)", Required = true };

    private static readonly Option<string[]> Names = new("--name")
    {
        Description = "a DNS name or IP address users reach a node by, besides " + string.Join(", ", ClusterSecrets.DefaultNames) + " (repeatable; an existing node certificate is issued again with it)",
    };

    public static Command Create()
    {
        var command = new Command("secrets", "create the cluster's CA, node certificate, pbm token and database password (kept if present)");
        command.Options.Add(Out);
        command.Options.Add(Names);
        command.SetAction(p => Write(p.GetValue(Out)!, p.GetValue(Names) ?? []));
        return command;
    }

    private static int Write(string folder, string[] names)
    {
        IReadOnlyList<string> written;
        try
        {
            foreach (string name in names)
            {
                ClusterSecrets.NormalName(name);
            }
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"error: --name {e.Message}");
            return 2;
        }

        try
        {
            written = ClusterSecrets.Ensure(folder, names);
            ClusterTrust.Load(folder); // what the nodes will read
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
        {
            Console.Error.WriteLine($"error: cannot write the secrets folder {folder}: {e.Message}");
            return 3;
        }

        Console.Out.WriteLine(written.Count == 0
            ? $"secrets: {folder} is complete; nothing written"
            : $"secrets: wrote {string.Join(", ", written)} in {folder}; nodes read it from CLUSTER_SECRETS={folder}");
        return 0;
    }
}

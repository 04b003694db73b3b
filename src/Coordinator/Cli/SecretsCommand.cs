using System.CommandLine;
using CnnCluster.Security;

namespace CnnCluster.Coordinator.Cli;

/// <summary>
/// `secrets --out DIR [--name N]... [--renew]`: the cluster's secrets folder (<see cref="ClusterSecrets"/>): its own
/// certificate authority, one certificate per role, the pbm token and the database passwords, each holder's
/// files in its own sub-folder. Files that exist are kept, so compose's `secrets` service runs it at every
/// start and only what is missing or due (a certificate within 30 days of its end) is written. Nodes read
/// CLUSTER_SECRETS=DIR (each takes its role's sub-folder) or CLUSTER_SECRETS=DIR/ROLE; pbm clients DIR/pbm.
/// </summary>
internal static class SecretsCommand
{
    private static readonly Option<string> Out = new("--out") { Description = "the folder to write (made if missing)", Required = true };

    private static readonly Option<string[]> Names = new("--name")
    {
        Description = "a DNS name or IP address users reach a node by, besides " + string.Join(", ", ClusterSecrets.CoordinatorNames) + " (repeatable; the node certificates are issued again with it)",
    };

    private static readonly Option<bool> Renew = new("--renew") { Description = "issue every node certificate again now (the authority, token and passwords are kept)" };

    public static Command Create()
    {
        var command = new Command("secrets", "create the cluster's CA, a certificate per role, the pbm token and database passwords (kept if present)");
        command.Options.Add(Out);
        command.Options.Add(Names);
        command.Options.Add(Renew);
        command.SetAction(p => Write(p.GetValue(Out)!, p.GetValue(Names) ?? [], p.GetValue(Renew)));
        return command;
    }

    private static int Write(string folder, string[] names, bool renew)
    {
        IReadOnlyList<string> written;
        try
        {
            foreach (string name in names)
            {
                NodeCertificates.NormalName(name);
            }
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"error: --name {e.Message}");
            return 2;
        }

        try
        {
            written = ClusterSecrets.Ensure(folder, names, renew);
            foreach (NodeRole role in Enum.GetValues<NodeRole>())
            {
                ClusterTrust.Load(folder, role); // what the nodes will read
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException or ArgumentException)
        {
            Console.Error.WriteLine($"error: cannot write the secrets folder {folder}: {e.Message}");
            return 3;
        }

        Console.Out.WriteLine(written.Count == 0
            ? $"secrets: {folder} is complete; nothing written"
            : $"secrets: wrote {string.Join(", ", written)} in {folder}; nodes read CLUSTER_SECRETS={folder} (or its coordinator/, worker/ folder), pbm {Path.Combine(folder, ClusterSecrets.PbmFolder)}");
        return 0;
    }
}

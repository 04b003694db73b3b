using System.Globalization;
using System.Net.Sockets;
using System.Security.Authentication;
using CnnCluster.PbmProtocol;
using CnnCluster.Security;

namespace CnnCluster.Pbm;

/// <summary>
/// pbm, after Petabridge.Cmd: `pbm [host:port] &lt;palette&gt; &lt;command&gt; [args]` runs one command and exits
/// with its code; `pbm [host:port]` alone is interactive (`help`, `exit`; on a terminal with line editing,
/// history, Tab completion and Ctrl-C that cancels the running command). Default 127.0.0.1:9110.
/// The token presented to nodes that require one: PBM_TOKEN, else the file PBM_TOKEN_FILE, else
/// $CLUSTER_SECRETS/pbm/pbm.token. TLS when PBM_CA (the cluster's ca.crt) or CLUSTER_SECRETS (its folder) is
/// set: the node must chain to that CA. Every failure to connect is one line `error: …` and exit 3.
/// </summary>
public static class Program
{
    public const string DefaultEndpoint = "127.0.0.1:9110";

    public static async Task<int> Main(string[] args)
    {
        string endpoint = DefaultEndpoint;
        var words = args.ToList();
        if (words.Count > 0 && LooksLikeEndpoint(words[0]))
        {
            endpoint = words[0];
            words.RemoveAt(0);
        }

        // `pbm --help`, `pbm help [palette [command]]`, `pbm <palette> [<command>] --help`: help, never a command
        (bool Asked, string? Palette, string? Command) help = words switch
        {
            ["help", .. var rest] => (true, rest.ElementAtOrDefault(0), rest.ElementAtOrDefault(1)),
            _ when words.Any(w => w is "--help" or "-h") => (true, words.Where(w => !w.StartsWith('-')).ElementAtOrDefault(0), words.Where(w => !w.StartsWith('-')).ElementAtOrDefault(1)),
            _ => (false, null, null),
        };
        if (help.Asked)
        {
            Console.Out.WriteLine(Usage);
        }

        int colon = endpoint.LastIndexOf(':');
        string host = endpoint[..colon];
        int port = int.Parse(endpoint[(colon + 1)..], CultureInfo.InvariantCulture);
        PbmClient client;
        try
        {
            (string? token, ClusterTrust? trust) = Credentials(Environment.GetEnvironmentVariable);
            client = await PbmClient.ConnectAsync(host, port, token, trust, Console.Out, Console.Error, !Console.IsOutputRedirected);
        }
        catch (Exception e) when (help.Asked)
        {
            // the usage is printed; the commands come from the node, which is not reachable
            Console.Error.WriteLine($"pbm: the commands of the node at {endpoint} are listed once it answers ({OneLine(e.Message)})");
            return 0;
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 3;
        }
        catch (AuthenticationException e)
        {
            Console.Error.WriteLine($"error: no TLS with the pbm host at {endpoint}: {OneLine(e.Message)}");
            return 3;
        }
        catch (Exception e) when (e is SocketException or TimeoutException or PbmException or IOException or FramingException or OperationCanceledException)
        {
            string hint = e is IOException && Environment.GetEnvironmentVariable("PBM_CA") is null && Environment.GetEnvironmentVariable("CLUSTER_SECRETS") is null ? string.Empty
                : e is IOException ? " (does the node use TLS? it does when it has CLUSTER_SECRETS)" : string.Empty;
            Console.Error.WriteLine($"error: cannot talk to the pbm host at {endpoint}: {OneLine(e.Message)}{hint}");
            return 3;
        }

        using (client)
        {
            if (help.Asked)
            {
                return Help(client.Welcome, help.Palette, help.Command) ? 0 : 2;
            }

            if (words.Count > 0)
            {
                return await client.RunAsync(words);
            }

            string prompt = $"[{endpoint}] pbm>";
            using ILineReader reader = TerminalLineReader.Usable
                ? new TerminalLineReader(prompt, client.Welcome.Palettes, HistoryFile.FromEnvironment())
                : new PipedLineReader(prompt);
            return await Interactive(client, endpoint, reader);
        }
    }

    /// <summary>The token (PBM_TOKEN, PBM_TOKEN_FILE, $CLUSTER_SECRETS/pbm/pbm.token) and the CA to check nodes against (PBM_CA, $CLUSTER_SECRETS/pbm/ca.crt); CLUSTER_SECRETS may be the pbm/ folder itself.</summary>
    public static (string? Token, ClusterTrust? Trust) Credentials(Func<string, string?> env)
    {
        string? secrets = string.IsNullOrWhiteSpace(env("CLUSTER_SECRETS")) ? null : env("CLUSTER_SECRETS")!.Trim();
        string? authority = !string.IsNullOrWhiteSpace(env("PBM_CA")) ? env("PBM_CA")!.Trim()
            : secrets is null ? null
            : ClusterSecrets.Locate(secrets, ClusterSecrets.PbmFolder, ClusterSecrets.AuthorityFile) ?? Path.Combine(secrets, ClusterSecrets.AuthorityFile);
        ClusterTrust? trust = authority is null ? null : ClusterTrust.AuthorityOnly(authority);
        return (SecretFiles.ReadToken(env), trust);
    }

    private static string OneLine(string text) => text.ReplaceLineEndings(" ").Trim();

    private static bool LooksLikeEndpoint(string word)
    {
        int colon = word.LastIndexOf(':');
        return colon > 0 && int.TryParse(word[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int port) && port is > 0 and <= 65535;
    }

    private static async Task<int> Interactive(PbmClient client, string endpoint, ILineReader reader)
    {
        Console.Out.WriteLine($"connected to {client.Welcome.Node}; type 'help' for the commands, 'exit' to leave");
        int last = 0;
        while (true)
        {
            string? line = await reader.ReadLineAsync();
            if (line is null)
            {
                return last;
            }

            List<string> words;
            try
            {
                words = CommandLine.Split(line);
            }
            catch (FormatException e)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                continue;
            }

            if (words.Count == 0)
            {
                continue;
            }

            switch (words[0])
            {
                case "exit" or "quit":
                    return last;
                case "help":
                    Help(client.Welcome, words.ElementAtOrDefault(1), words.ElementAtOrDefault(2));
                    continue;
            }

            try
            {
                last = await client.RunAsync(words, reader.NextCommand());
            }
            catch (Exception e) when (e is IOException or SocketException or FramingException)
            {
                Console.Error.WriteLine($"error: the connection to {endpoint} broke: {e.Message}");
                return 3;
            }
        }
    }

    public const string Usage =
        "usage: pbm [host:port] <palette> <command> [switches]   run one command (default node " + DefaultEndpoint + ")\n" +
        "       pbm [host:port]                                  interactive: help, exit\n" +
        "       pbm [host:port] help [palette [command]]         the node's commands (also --help after any of them)\n" +
        "environment: PBM_TOKEN or PBM_TOKEN_FILE (the node's token), PBM_CA (the cluster's ca.crt: TLS), CLUSTER_SECRETS (both, from the secrets folder)";

    /// <summary>The node's palettes, one palette's commands, or one command's switches; false (and one error line) for a name the node does not have.</summary>
    private static bool Help(Welcome welcome, string? palette, string? command)
    {
        PaletteInfo[] palettes = welcome.Palettes.Where(p => palette is null || p.Name == palette).ToArray();
        if (palettes.Length == 0)
        {
            Console.Error.WriteLine($"error: the node has no palette '{palette}'{DidYouMean.Hint(palette!, welcome.Palettes.Select(p => p.Name).ToArray())}");
            return false;
        }

        foreach (PaletteInfo p in palettes)
        {
            CommandInfo[] commands = p.Commands.Where(c => command is null || c.Name == command).ToArray();
            if (commands.Length == 0)
            {
                Console.Error.WriteLine($"error: palette '{p.Name}' has no command '{command}'{DidYouMean.Hint(command!, p.Commands.Select(c => c.Name).ToArray())}");
                return false;
            }

            Console.Out.WriteLine($"{p.Name}: {p.Description}");
            foreach (CommandInfo c in commands)
            {
                string switches = string.Join(" ", c.Switches.Select(s => (s.Mandatory ? string.Empty : "[") + (s.Short is null ? $"--{s.Long}" : $"-{s.Short}|--{s.Long}") + (s.IsFlag ? string.Empty : " <value>") + (s.Mandatory ? string.Empty : "]")));
                Console.Out.WriteLine($"  {p.Name} {c.Name} {switches}".TrimEnd() + $"    {c.Description}");
                if (command is not null)
                {
                    foreach (SwitchInfo sw in c.Switches)
                    {
                        Console.Out.WriteLine($"      {(sw.Short is null ? $"--{sw.Long}" : $"-{sw.Short}, --{sw.Long}"),-24} {sw.Description}{(sw.Mandatory ? " (required)" : string.Empty)}");
                    }
                }
            }
        }

        return true;
    }
}

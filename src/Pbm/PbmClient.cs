using CnnCluster.PbmProtocol;
using CnnCluster.Security;

namespace CnnCluster.Pbm;

/// <summary>A session with one node: hello, the node's palettes, then commands whose output streams to the console.</summary>
public sealed class PbmClient : IDisposable
{
    private readonly PbmConnection _connection;
    private readonly TextWriter _out;
    private readonly TextWriter _err;
    private readonly bool _terminal;
    private int _nextId;

    private PbmClient(PbmConnection connection, Welcome welcome, TextWriter output, TextWriter error, bool terminal, bool writesFiles)
    {
        _connection = connection;
        WritesFiles = writesFiles;
        Welcome = welcome;
        _out = output;
        _err = error;
        _terminal = terminal;
    }

    public Welcome Welcome { get; }

    /// <summary>
    /// False when the node proved over TLS to be a worker (its certificate's role): files are what the
    /// coordinator exports, so no switch a worker describes is taken for an output file.
    /// </summary>
    public bool WritesFiles { get; }

    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    /// <summary>The exit code of a command the node cancelled (as a shell's 128 + SIGINT).</summary>
    public const int Cancelled = 130;

    /// <summary>Says hello to <paramref name="host"/>:<paramref name="port"/>; over TLS checked against the cluster's CA when <paramref name="trust"/> is given.</summary>
    public static async Task<PbmClient> ConnectAsync(string host, int port, string? token, ClusterTrust? trust, TextWriter output, TextWriter error, bool terminal)
    {
        NodeRole? role = null;
        Func<Stream, Task<Stream>>? secure = trust is null ? null : async network =>
        {
            var ssl = await Tls.ClientAsync(network, host, trust, Deadline, CancellationToken.None, mutual: false, checkName: true);
            role = ClusterTrust.RoleOf(ssl.RemoteCertificate);
            return ssl;
        };
        PbmConnection connection = await PbmConnection.ConnectAsync(host, port, Deadline, secure: secure);
        try
        {
            await connection.SendAsync(new Hello("cnncluster-pbm/1", token));
            IPbmMessage? first = await connection.ReceiveAsync().WaitAsync(Deadline);
            return first switch
            {
                Welcome w => new PbmClient(connection, w, output, error, terminal, writesFiles: trust is null || role == NodeRole.Coordinator),
                Refused r => throw new PbmException(TerminalText.Safe(r.Reason)),
                null => throw new PbmException($"{host}:{port} closed the connection without a welcome"),
                _ => throw new PbmException($"{host}:{port} answered with {first.GetType().Name} instead of a welcome"),
            };
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Runs one command; returns its exit code (the error line goes to stderr). <paramref name="cancellation"/>
    /// (Ctrl-C) asks the node to cancel it; the node answers at once with 130, shown as `^C (cancelled)`,
    /// and the connection stays usable: the reply is read, never a read abandoned half way. A file the node
    /// sends is written only for a command that has an --output switch (one file, to the user's path) or an
    /// --output-dir switch (files into the user's folder, each under a plain name the node gives, never a
    /// path), only when the user gave it; any other file is ignored with one warning.
    /// </summary>
    public async Task<int> RunAsync(IReadOnlyList<string> words, CancellationToken cancellation = default)
    {
        if (words.Count < 2)
        {
            PaletteInfo? palette = words.Count == 1 ? Welcome.Palettes.FirstOrDefault(p => p.Name == words[0]) : null;
            _err.WriteLine(palette is null
                ? $"error: give a palette and a command; palettes: {string.Join(", ", Welcome.Palettes.Select(p => p.Name))}"
                : $"error: give a command of palette '{palette.Name}': {string.Join(", ", palette.Commands.Select(c => c.Name))}");
            return 2;
        }

        string? outputPath = OutputPath(words, "output");
        string? outputDirectory = OutputPath(words, "output-dir");
        bool warned = false;
        int id = ++_nextId;
        await _connection.SendAsync(new RunCommand(id, words[0], words[1], words.Skip(2).ToArray()));
        FileStream? file = null;
        bool progressShown = false;
        var interrupted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using CancellationTokenRegistration onInterrupt = cancellation.Register(() => interrupted.TrySetResult());
        bool cancelSent = false;
        try
        {
            while (true)
            {
                Task<IPbmMessage?> next = _connection.ReceiveAsync();
                if (!cancelSent && await Task.WhenAny(next, interrupted.Task) == interrupted.Task)
                {
                    // the read stays pending and is awaited below: the node's reply to the cancel arrives on it
                    await _connection.SendAsync(new CancelCommand(id));
                    cancelSent = true;
                }

                IPbmMessage? m = await next;
                switch (m)
                {
                    case null:
                        _err.WriteLine("error: the node closed the connection");
                        return 3;
                    case Output o when o.Id == id:
                        string text = TerminalText.Safe(o.Text); // the node's words, never its escape sequences
                        if (text.StartsWith("progress: ", StringComparison.Ordinal) && _terminal)
                        {
                            _out.Write("\r" + text["progress: ".Length..] + "  ");
                            progressShown = true;
                        }
                        else
                        {
                            if (progressShown)
                            {
                                _out.WriteLine();
                                progressShown = false;
                            }

                            _out.WriteLine(text.StartsWith("progress: ", StringComparison.Ordinal) ? text["progress: ".Length..] : text);
                        }

                        break;
                    case FileChunk f when f.Id == id && (outputPath ?? InDirectory(outputDirectory, f.Path)) is string target:
                        if (file is null && outputDirectory is not null)
                        {
                            Directory.CreateDirectory(outputDirectory);
                        }

                        file ??= new FileStream(target, FileMode.Create, FileAccess.Write);
                        await file.WriteAsync(f.Bytes);
                        if (f.Last)
                        {
                            await file.DisposeAsync();
                            file = null;
                            outputPath = null; // one file per command
                        }

                        break;
                    case FileChunk:
                        if (!warned)
                        {
                            _err.WriteLine($"warning: the node sent a file that `{words[0]} {words[1]}` did not ask for; it was not written (pbm writes only to the -o/--output path or into the --output-dir folder you give)");
                            warned = true;
                        }

                        break;
                    case CommandResult r when r.Id == id:
                        if (progressShown)
                        {
                            _out.WriteLine();
                        }

                        if (cancelSent && r.ExitCode == Cancelled)
                        {
                            _err.WriteLine("^C (cancelled)");
                        }
                        else if (r.ExitCode != 0)
                        {
                            _err.WriteLine($"error: {TerminalText.Safe(r.Error)}");
                        }

                        return r.ExitCode;
                }
            }
        }
        finally
        {
            if (file is not null)
            {
                await file.DisposeAsync();
            }
        }
    }

    /// <summary>The value the user typed for switch <paramref name="name"/> (output or output-dir), when the command (as the node describes it) has it; else null.</summary>
    private string? OutputPath(IReadOnlyList<string> words, string name)
    {
        CommandInfo? command = Welcome.Palettes.FirstOrDefault(p => p.Name == words[0])?.Commands.FirstOrDefault(c => c.Name == words[1]);
        SwitchInfo? output = WritesFiles ? command?.Switches.FirstOrDefault(s => s.Long == name && !s.IsFlag) : null;
        if (output is null)
        {
            return null;
        }

        string? path = null;
        for (int i = 2; i < words.Count; i++)
        {
            if (words[i] == "--" + name || (output.Short is not null && words[i] == "-" + output.Short))
            {
                path = i + 1 < words.Count ? words[++i] : null;
            }
            else if (words[i].StartsWith($"--{name}=", StringComparison.Ordinal))
            {
                path = words[i][(name.Length + 3)..];
            }
        }

        return string.IsNullOrEmpty(path) ? null : path;
    }

    /// <summary>Where a file named <paramref name="name"/> by the node goes in the user's folder: only a plain name (letters, digits, '.', '_', '-', not starting with '.') is accepted.</summary>
    public static string? InDirectory(string? directory, string name) =>
        directory is not null && name.Length is > 0 and <= 128 && name[0] != '.' && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-')
            ? Path.Combine(directory, name)
            : null;

    public void Dispose() => _connection.Dispose();
}

/// <summary>The node refused the session or broke the protocol.</summary>
public sealed class PbmException(string message) : Exception(message);

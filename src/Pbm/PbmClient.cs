using CnnCluster.PbmProtocol;

namespace CnnCluster.Pbm;

/// <summary>A session with one node: hello, the node's palettes, then commands whose output streams to the console.</summary>
public sealed class PbmClient : IDisposable
{
    private readonly PbmConnection _connection;
    private readonly TextWriter _out;
    private readonly TextWriter _err;
    private readonly bool _terminal;
    private int _nextId;

    private PbmClient(PbmConnection connection, Welcome welcome, TextWriter output, TextWriter error, bool terminal)
    {
        _connection = connection;
        Welcome = welcome;
        _out = output;
        _err = error;
        _terminal = terminal;
    }

    public Welcome Welcome { get; }

    public static async Task<PbmClient> ConnectAsync(string host, int port, string? token, TextWriter output, TextWriter error, bool terminal)
    {
        PbmConnection connection = await PbmConnection.ConnectAsync(host, port, TimeSpan.FromSeconds(10));
        try
        {
            await connection.SendAsync(new Hello("cnncluster-pbm/1", token));
            IPbmMessage? first = await connection.ReceiveAsync().WaitAsync(TimeSpan.FromSeconds(10));
            return first switch
            {
                Welcome w => new PbmClient(connection, w, output, error, terminal),
                Refused r => throw new PbmException(r.Reason),
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

    /// <summary>Runs one command; returns its exit code (the error line goes to stderr).</summary>
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

        int id = ++_nextId;
        await _connection.SendAsync(new RunCommand(id, words[0], words[1], words.Skip(2).ToArray()), cancellation);
        FileStream? file = null;
        bool progressShown = false;
        try
        {
            while (true)
            {
                IPbmMessage? m = await _connection.ReceiveAsync(cancellation);
                switch (m)
                {
                    case null:
                        _err.WriteLine("error: the node closed the connection");
                        return 3;
                    case Output o when o.Id == id:
                        if (o.Text.StartsWith("progress: ", StringComparison.Ordinal) && _terminal)
                        {
                            _out.Write("\r" + o.Text["progress: ".Length..] + "  ");
                            progressShown = true;
                        }
                        else
                        {
                            if (progressShown)
                            {
                                _out.WriteLine();
                                progressShown = false;
                            }

                            _out.WriteLine(o.Text.StartsWith("progress: ", StringComparison.Ordinal) ? o.Text["progress: ".Length..] : o.Text);
                        }

                        break;
                    case FileChunk f when f.Id == id:
                        file ??= new FileStream(f.Path, FileMode.Create, FileAccess.Write);
                        await file.WriteAsync(f.Bytes, cancellation);
                        if (f.Last)
                        {
                            await file.DisposeAsync();
                            file = null;
                        }

                        break;
                    case CommandResult r when r.Id == id:
                        if (progressShown)
                        {
                            _out.WriteLine();
                        }

                        if (r.ExitCode != 0)
                        {
                            _err.WriteLine($"error: {r.Error}");
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

    public void Dispose() => _connection.Dispose();
}

/// <summary>The node refused the session or broke the protocol.</summary>
public sealed class PbmException(string message) : Exception(message);

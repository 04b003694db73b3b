using System.Runtime.InteropServices;
using System.Diagnostics;
using System.Text;

namespace CnnCluster.Coordinator.Tests;

/// <summary>A real child process (coordinator or worker) whose output is captured as it comes.</summary>
public sealed class ChildProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();

    private ChildProcess(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) => Append(_stdout, e.Data);
        process.ErrorDataReceived += (_, e) => Append(_stderr, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public int Id => _process.Id;

    public string Stdout
    {
        get
        {
            lock (_stdout)
            {
                return _stdout.ToString();
            }
        }
    }

    public string Stderr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    public static ChildProcess Start(string dll, IEnumerable<string> args, IReadOnlyDictionary<string, string>? env = null) => Start(dll, args, null, env);

    /// <summary>Starts it with <paramref name="input"/> on its standard input (then closed).</summary>
    public static ChildProcess StartWithInput(string dll, IEnumerable<string> args, string input, IReadOnlyDictionary<string, string>? env = null) => Start(dll, args, input, env);

    private static ChildProcess Start(string dll, IEnumerable<string> args, string? input, IReadOnlyDictionary<string, string>? env)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = input is not null,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, dll));
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        foreach ((string k, string v) in env ?? new Dictionary<string, string>())
        {
            psi.Environment[k] = v;
        }

        var child = new ChildProcess(Process.Start(psi)!);
        if (input is not null)
        {
            child._process.StandardInput.Write(input);
            child._process.StandardInput.Close();
        }

        return child;
    }

    /// <summary>A worker process joining the node at <paramref name="clusterPort"/>; <paramref name="env"/> adds to (or overrides) its defaults.</summary>
    public static ChildProcess Worker(int clusterPort, int threads = 1, IReadOnlyDictionary<string, string>? env = null)
    {
        var environment = new Dictionary<string, string>
        {
            ["CLUSTER_SEEDS"] = $"127.0.0.1:{clusterPort}",
            ["CLUSTER_HOSTNAME"] = "127.0.0.1",
            ["CLUSTER_PORT"] = "0",
            ["WORKER_THREADS"] = threads.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        foreach ((string key, string value) in env ?? new Dictionary<string, string>())
        {
            environment[key] = value;
        }

        return Start("CnnCluster.Worker.dll", [], environment);
    }

    /// <summary>
    /// `serve` with <paramref name="workers"/> in-process workers and this environment (CLUSTER_*, PBM_*, PERSISTENCE_*, HTTP_*),
    /// once its pbm port answers; without HTTP_PORT in it, no HTTP endpoint (nodes of parallel tests would share its default port).
    /// </summary>
    public static ChildProcess Serve(int workers, int pbmPort, IReadOnlyDictionary<string, string> env)
    {
        var environment = new Dictionary<string, string>(env)
        {
            ["PBM_PORT"] = pbmPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        environment.TryAdd("HTTP_PORT", "0");
        ChildProcess serve = Start("CnnCluster.Coordinator.dll", ["serve", "--workers", workers.ToString(System.Globalization.CultureInfo.InvariantCulture)], environment);
        serve.WaitForOutput("pbm on", TimeSpan.FromMinutes(1));

        // the host binds its port asynchronously after start
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var probe = new System.Net.Sockets.TcpClient("127.0.0.1", pbmPort);
                return serve;
            }
            catch (System.Net.Sockets.SocketException) when (clock.Elapsed < TimeSpan.FromSeconds(30))
            {
                Thread.Sleep(100);
            }
        }
    }

    /// <summary>Runs one to completion: its exit code and everything it printed.</summary>
    public static (int Code, string Stdout, string Stderr) Run(string dll, IEnumerable<string> args, IReadOnlyDictionary<string, string>? env = null, TimeSpan? timeout = null)
    {
        using ChildProcess p = Start(dll, args, env);
        int code = p.WaitForExit(timeout ?? TimeSpan.FromMinutes(3));
        return (code, p.Stdout, p.Stderr);
    }

    /// <summary>Waits until stdout holds <paramref name="text"/>.</summary>
    public void WaitForOutput(string text, TimeSpan timeout) => WaitFor(() => Stdout.Contains(text, StringComparison.Ordinal), $"'{text}'", timeout);

    /// <summary>Waits until a `step N/M` progress line with N ≥ <paramref name="step"/> is on stdout; returns N.</summary>
    public long WaitForStep(long step, TimeSpan timeout)
    {
        long reached = 0;
        WaitFor(() => (reached = LastStep()) >= step, $"step {step}", timeout);
        return reached;
    }

    private long LastStep() => System.Text.RegularExpressions.Regex.Matches(Stdout, @"(?m)^step (\d+)/")
        .Select(m => long.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).DefaultIfEmpty(0).Max();

    /// <summary>Waits until stderr (the log) holds <paramref name="text"/> (at least <paramref name="times"/> times).</summary>
    public void WaitForLog(string text, TimeSpan timeout, int times = 1) =>
        WaitFor(() => System.Text.RegularExpressions.Regex.Count(Stderr, System.Text.RegularExpressions.Regex.Escape(text)) >= times, $"'{text}' ({times}×)", timeout);

    private void WaitFor(Func<bool> done, string what, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!done())
        {
            if (_process.HasExited || clock.Elapsed > timeout)
            {
                throw new TimeoutException($"{what} did not appear (exited: {_process.HasExited}).\nstdout:\n{Stdout}\nstderr:\n{Stderr}");
            }

            Thread.Sleep(20);
        }
    }

    public int WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
        {
            _process.Kill(entireProcessTree: true);
            throw new TimeoutException($"process did not exit in {timeout}.\nstdout:\n{Stdout}\nstderr:\n{Stderr}");
        }

        _process.WaitForExit();
        return _process.ExitCode;
    }

    public bool HasExited => _process.HasExited;

    /// <summary>SIGKILL: no goodbye to the cluster.</summary>
    public void KillHard() => _process.Kill();

    /// <summary>SIGTERM: what `docker stop` and `docker compose restart` send; a node leaves the cluster and ends.</summary>
    public void Terminate()
    {
        if (Kill(_process.Id, 15) != 0)
        {
            throw new InvalidOperationException($"kill -TERM {_process.Id} failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }

        _process.Dispose();
    }

    private static void Append(StringBuilder sb, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (sb)
        {
            sb.AppendLine(line);
        }
    }
}

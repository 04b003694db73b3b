using System.Diagnostics;
using System.Runtime.InteropServices;

namespace CnnCluster.Coordinator.Local;

/// <summary>
/// Real worker processes (src/Worker) started on this machine, joining the cluster over 127.0.0.1.
/// Each one's output goes to a log file; <see cref="Dispose"/> stops them with SIGTERM (a graceful
/// cluster leave) and kills what is left after a grace period.
/// </summary>
public sealed partial class WorkerProcesses : IDisposable
{
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(10);
    private readonly List<Process> _processes = new();
    private readonly List<StreamWriter> _logs = new();

    public static string WorkerDll => Path.Combine(AppContext.BaseDirectory, "CnnCluster.Worker.dll");

    /// <summary>Starts one worker process; its stdout and stderr go to <paramref name="logFile"/>.</summary>
    public Process Start(string seed, int threads, string dataDirectory, string logFile)
    {
        var psi = new ProcessStartInfo(DotnetHost(), [WorkerDll])
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.Environment["CLUSTER_SEEDS"] = seed;
        psi.Environment["CLUSTER_HOSTNAME"] = "127.0.0.1";
        psi.Environment["CLUSTER_PORT"] = "0";
        psi.Environment["WORKER_THREADS"] = threads.ToString(System.Globalization.CultureInfo.InvariantCulture);
        psi.Environment["CNN_DATA"] = dataDirectory;
        Process p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {WorkerDll}");
        var log = new StreamWriter(logFile, append: true) { AutoFlush = true };
        _logs.Add(log);
        p.OutputDataReceived += (_, e) => Write(log, e.Data);
        p.ErrorDataReceived += (_, e) => Write(log, e.Data);
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        _processes.Add(p);
        return p;
    }

    public void Dispose()
    {
        foreach (Process p in _processes.Where(p => !p.HasExited))
        {
            Terminate(p);
        }

        foreach (Process p in _processes)
        {
            if (!p.WaitForExit(Grace))
            {
                p.Kill(entireProcessTree: true);
                p.WaitForExit();
            }

            p.Dispose();
        }

        _processes.Clear();
        foreach (StreamWriter log in _logs)
        {
            lock (log)
            {
                log.Dispose();
            }
        }

        _logs.Clear();
    }

    /// <summary>SIGTERM: the worker leaves the cluster before it exits.</summary>
    public static void Terminate(Process p)
    {
        if (Kill(p.Id, 15) != 0)
        {
            p.Kill(entireProcessTree: true);
        }
    }

    private static string DotnetHost() =>
        Environment.ProcessPath is string path && Path.GetFileNameWithoutExtension(path) == "dotnet" ? path : "dotnet";

    private static void Write(StreamWriter log, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (log)
        {
            if (log.BaseStream is not null)
            {
                log.WriteLine(line);
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}

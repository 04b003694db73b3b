using System.Diagnostics;

namespace CnnCluster.Coordinator.Tests;

/// <summary>Runs the real coordinator executable (the built CnnCluster.Coordinator.dll) as a child process.</summary>
internal static class ProcessRunner
{
    public static string CoordinatorDll => Path.Combine(AppContext.BaseDirectory, "CnnCluster.Coordinator.dll");

    public static (int ExitCode, string Stdout, string Stderr) Run(TimeSpan timeout, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(CoordinatorDll);
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        Task<string> stdout = p.StandardOutput.ReadToEndAsync();
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"coordinator {string.Join(' ', args)} did not finish in {timeout}");
        }

        return (p.ExitCode, stdout.Result, stderr.Result);
    }
}

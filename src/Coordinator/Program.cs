using System.CommandLine;
using CnnCluster.Coordinator.Cli;
using CnnCluster.Engine.Data;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Training;

namespace CnnCluster.Coordinator;

public static class Program
{
    /// <summary>
    /// Exit codes: 0 success, 1 an unexpected failure (a bug: one line naming it, never a stack trace),
    /// 2 bad command line, 3 bad model, data or store, 4 training diverged or the run failed.
    /// </summary>
    public static int Main(string[] args)
    {
        try
        {
            Shared.Hosting.NodeConfiguration.Load();
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 3;
        }

        var root = new RootCommand("CnnCluster coordinator: train CNNs by synchronous data-parallel SGD");
        root.Subcommands.Add(TrainCommand.Create());
        root.Subcommands.Add(ServeCommand.Create());
        root.Subcommands.Add(EvaluateCommand.Create());
        root.Subcommands.Add(ExportCommand.Create());
        root.Subcommands.Add(SecretsCommand.Create());
        root.Subcommands.Add(HealthCommand.Create());

        ParseResult parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            Console.Error.WriteLine($"error: {parse.Errors[0].Message} (see --help)");
            return 2;
        }

        try
        {
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (e is DatasetException or ModelSpecException or ModelFileException or Cluster.RunRejectedException or ArgumentException or Persistence.DatabaseUnavailableException or Persistence.StoreHeldException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 3;
        }
        catch (Exception e) when (e is TrainingDivergedException or Cluster.RunFailedException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 4;
        }
        catch (Exception e)
        {
            Exception cause = e.GetBaseException();
            Console.Error.WriteLine($"error: unexpected {cause.GetType().Name}: {cause.Message.ReplaceLineEndings(" ")} (a bug in CnnCluster; please report it with the command line)");
            return 1;
        }
    }
}

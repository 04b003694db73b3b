using System.CommandLine;
using CnnCluster.Coordinator.Cli;
using CnnCluster.Engine.Data;
using CnnCluster.Engine.Models;
using CnnCluster.Engine.Training;

namespace CnnCluster.Coordinator;

public static class Program
{
    /// <summary>Exit codes: 0 success, 2 bad command line, 3 bad model or data, 4 training diverged.</summary>
    public static int Main(string[] args)
    {
        var root = new RootCommand("CnnCluster coordinator: train CNNs by synchronous data-parallel SGD");
        root.Subcommands.Add(TrainCommand.Create());
        root.Subcommands.Add(ServeCommand.Create());
        root.Subcommands.Add(EvaluateCommand.Create());

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
        catch (Exception e) when (e is DatasetException or ModelSpecException or ModelFileException or Cluster.RunRejectedException or ArgumentException or Persistence.DatabaseUnavailableException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 3;
        }
        catch (Exception e) when (e is TrainingDivergedException or Cluster.RunFailedException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 4;
        }
    }
}

using CnnCluster.Shared.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace CnnCluster.Shared.Tests;

public sealed class NodeLogFormatSpecs
{
    [Fact]
    public void AnAkkaMessageIsPrintedOnceWithItsActorPathAsTheSource()
    {
        string line = Format(LogLevel.Information, "Akka.Actor.ActorSystem",
            "[INFO][11/30/2026 12:41:29.722Z][Thread 0015][akka.tcp://cnncluster@127.0.0.1:46675/user/run-registry/run-registry/registry] run r1 completed at step 5, param_sha256 4aec");

        Assert.Equal("2026-11-30T12:41:29.722Z INFO  /user/run-registry/run-registry/registry: run r1 completed at step 5, param_sha256 4aec\n", line);
    }

    [Fact]
    public void OtherSourcesKeepTheirCategoryAndAnExceptionStaysOnTheLine()
    {
        string line = Format(LogLevel.Warning, "CnnCluster.Worker", "lost the seed\nretrying", new InvalidOperationException("no route\nto host"));

        Assert.EndsWith("WARN  CnnCluster.Worker: lost the seed retrying (InvalidOperationException: no route to host)\n", line);
        Assert.Single(line.TrimEnd('\n').Split('\n'));
    }

    [Fact]
    public void ARemotingSourceWithoutAnActorPathIsKeptWhole()
    {
        Assert.Equal(("remoting (akka://cnncluster)", "Starting remoting", new DateTime(2026, 11, 30, 12, 41, 17, 462, DateTimeKind.Utc)), NodeLogFormat.Split("Akka.Actor.ActorSystem", "[INFO][11/30/2026 12:41:17.462Z][Thread 0001][remoting (akka://cnncluster)] Starting remoting"));
    }

    private static string Format(LogLevel level, string category, string message, Exception? error = null)
    {
        var writer = new StringWriter { NewLine = "\n" };
        new NodeLogFormat().Write(new LogEntry<string>(level, category, default, message, error, (s, _) => s), null, writer);
        return writer.ToString();
    }
}

using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace CnnCluster.Coordinator.Local;

/// <summary>
/// Builds the generic host of a node. Logs go to stderr (stdout carries progress and the JSON
/// summary), at CNN_LOG_LEVEL (default Warning for `train`, Information for `serve`).
/// </summary>
public static class NodeHost
{
    public static IHost Build(LogLevel defaultLevel, Action<AkkaConfigurationBuilder, IServiceProvider> akka)
    {
        HostApplicationBuilder builder = Host.CreateApplicationBuilder([]);
        LogLevel level = Enum.TryParse(Environment.GetEnvironmentVariable("CNN_LOG_LEVEL"), ignoreCase: true, out LogLevel parsed) ? parsed : defaultLevel;
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Logging.SetMinimumLevel(level);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Services.AddAkka(Shared.Hosting.NodeSettings.SystemName, akka);
        return builder.Build();
    }
}

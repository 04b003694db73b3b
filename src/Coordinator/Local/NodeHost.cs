using Akka.Hosting;
using CnnCluster.Coordinator.Web;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace CnnCluster.Coordinator.Local;

/// <summary>
/// Builds the generic host of a node. Logs go to stderr (stdout carries progress and the JSON
/// summary), at CNN_LOG_LEVEL (default Warning for `train`, Information for `serve`). With an
/// <see cref="HttpEndpoint"/> (`serve`) it is a web application: Kestrel and the actor system in one host.
/// </summary>
public static class NodeHost
{
    public static IHost Build(LogLevel defaultLevel, Action<AkkaConfigurationBuilder, IServiceProvider> akka, HttpEndpoint? http = null)
    {
        if (http is null)
        {
            HostApplicationBuilder builder = Host.CreateApplicationBuilder([]);
            Configure(builder.Logging, builder.Services, defaultLevel, akka);
            return builder.Build();
        }

        WebApplicationBuilder web = WebApplication.CreateSlimBuilder();
        Configure(web.Logging, web.Services, defaultLevel, akka);
        http.Configure(web);
        WebApplication app = web.Build();
        http.Map(app);
        return app;
    }

    private static void Configure(ILoggingBuilder logging, IServiceCollection services, LogLevel defaultLevel, Action<AkkaConfigurationBuilder, IServiceProvider> akka)
    {
        LogLevel level = Enum.TryParse(Environment.GetEnvironmentVariable("CNN_LOG_LEVEL"), ignoreCase: true, out LogLevel parsed) ? parsed : defaultLevel;
        Shared.Hosting.NodeLogFormat.Use(logging, toStandardError: true);
        logging.SetMinimumLevel(level);
        logging.AddFilter("Microsoft", LogLevel.Warning);
        services.AddAkka(Shared.Hosting.NodeSettings.SystemName, akka);
    }
}

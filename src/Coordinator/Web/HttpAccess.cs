using CnnCluster.Security;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace CnnCluster.Coordinator.Web;

/// <summary>
/// The token check of an endpoint beyond loopback (<see cref="HttpSettings.Token"/>): a request shows
/// `Authorization: Bearer TOKEN` (Prometheus, scripts) or the cookie a browser got from opening a page once
/// with `?token=TOKEN` (HttpOnly, SameSite=Strict; the address is then reloaded without the token, so it does
/// not stay in the history). The health checks are open: an orchestrator probes them without secrets. Wrong
/// tokens count per address as pbm's hellos do (<see cref="FailedAttempts"/>): past the limit they are answered
/// 429 with Retry-After, while the right token still gets in from that address.
/// </summary>
public static class HttpAccess
{
    public const string CookieName = "cnncluster_token";

    private static readonly string[] OpenPaths = ["/healthz", "/readyz"];

    public static void UseTokenCheck(this WebApplication app, HttpSettings settings)
    {
        if (settings.Token is null)
        {
            return;
        }

        var failures = new FailedAttempts(Shared.Pbm.PbmHostSettings.MaxFailedHellos, Shared.Pbm.PbmHostSettings.FailedHelloWindow);
        ILogger log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("CnnCluster.Http");

        app.Use(async (context, next) =>
        {
            HttpRequest request = context.Request;
            if (OpenPaths.Contains(request.Path.Value, StringComparer.Ordinal))
            {
                await next(context);
                return;
            }

            if (request.Query.TryGetValue("token", out var query) && settings.Admits(query.ToString()))
            {
                context.Response.Cookies.Append(CookieName, query.ToString(), new CookieOptions
                {
                    HttpOnly = true,
                    SameSite = SameSiteMode.Strict,
                    Secure = request.IsHttps,
                    Path = "/",
                });
                context.Response.Redirect(request.PathBase + request.Path, permanent: false);
                return;
            }

            string? header = request.Headers.Authorization.ToString();
            string? given = header.StartsWith("Bearer ", StringComparison.Ordinal) ? header["Bearer ".Length..].Trim() : request.Cookies[CookieName];
            if (!settings.Admits(given))
            {
                string address = context.Connection.RemoteIpAddress is { } ip ? (ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip).ToString() : "?";
                FailedAttempts.Lockout? lockout;
                lock (failures)
                {
                    lockout = failures.Refusal(address, DateTime.UtcNow);
                    if (failures.Record(address, DateTime.UtcNow))
                    {
                        log.LogWarning("HTTP: {Limit} requests with a wrong token from {Address} within {Window} s: they are answered 429 for a while (the right token still gets in)", failures.Limit, address, failures.Window.TotalSeconds);
                    }
                }

                if (lockout is not null)
                {
                    context.Response.StatusCode = StatusCodes.Status429TooManyRequests;
                    context.Response.Headers.RetryAfter = lockout.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
                    await context.Response.WriteAsync(lockout.Message + "\n");
                    return;
                }

                context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                context.Response.Headers.WWWAuthenticate = "Bearer";
                await context.Response.WriteAsync("unauthorized: send pbm's token as 'Authorization: Bearer TOKEN', or open the dashboard once with ?token=TOKEN\n");
                return;
            }

            await next(context);
        });
    }
}

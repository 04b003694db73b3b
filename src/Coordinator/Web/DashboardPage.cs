using Microsoft.AspNetCore.Http;

namespace CnnCluster.Coordinator.Web;

/// <summary>
/// GET /: the dashboard, one self-contained page (Dashboard.html, embedded: no file to deploy, nothing
/// fetched from elsewhere) that polls /api/. Its policy lets it run its own inline script and talk to
/// this origin only, and no other site may frame it.
/// </summary>
public static class DashboardPage
{
    private static readonly Lazy<byte[]> Html = new(() =>
    {
        using Stream stream = typeof(DashboardPage).Assembly.GetManifestResourceStream("CnnCluster.Dashboard.html")
            ?? throw new InvalidOperationException("the dashboard page is not embedded in this build");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    });

    public static async Task Serve(HttpContext context)
    {
        IHeaderDictionary headers = context.Response.Headers;
        headers.ContentSecurityPolicy = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'";
        headers.XFrameOptions = "DENY";
        headers.CacheControl = "no-store";
        context.Response.ContentType = "text/html; charset=utf-8";
        await context.Response.Body.WriteAsync(Html.Value, context.RequestAborted);
    }
}

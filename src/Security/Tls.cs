using System.Net.Security;
using System.Security.Authentication;

namespace CnnCluster.Security;

/// <summary>TLS over a connected stream with the cluster's trust, each handshake under a deadline.</summary>
public static class Tls
{
    /// <summary>The server end: presents the node certificate and requires a client certificate of the cluster's authority when <paramref name="mutual"/>.</summary>
    public static Task<SslStream> ServerAsync(Stream inner, ClusterTrust trust, TimeSpan deadline, CancellationToken cancellation, bool mutual = true) =>
        Handshake(inner, deadline, cancellation, (ssl, refused, token) => ssl.AuthenticateAsServerAsync(trust.ServerOptions(mutual, refused), token), why => why);

    /// <summary>
    /// The client end: checks the server against the cluster's authority (and that it is named <paramref name="host"/>
    /// when <paramref name="checkName"/>, and that it holds <paramref name="serverRole"/> when given), presents the node
    /// certificate when <paramref name="mutual"/>.
    /// </summary>
    public static Task<SslStream> ClientAsync(Stream inner, string host, ClusterTrust trust, TimeSpan deadline, CancellationToken cancellation, bool mutual = true, bool checkName = false, NodeRole? serverRole = null) =>
        Handshake(inner, deadline, cancellation, (ssl, refused, token) => ssl.AuthenticateAsClientAsync(trust.ClientOptions(host, mutual, refused, checkName, serverRole), token), why => $"{host} is not a node of this cluster: {why}");

    /// <summary>One handshake under <paramref name="deadline"/>; a certificate our trust refused is an <see cref="AuthenticationException"/> that says why.</summary>
    private static async Task<SslStream> Handshake(Stream inner, TimeSpan deadline, CancellationToken cancellation, Func<SslStream, Action<string>, CancellationToken, Task> authenticate, Func<string, string> explain)
    {
        var ssl = new SslStream(inner, leaveInnerStreamOpen: false);
        string? refused = null;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
            timeout.CancelAfter(deadline);
            await authenticate(ssl, why => refused = why, timeout.Token).ConfigureAwait(false);
            return ssl;
        }
        catch (AuthenticationException e) when (refused is not null)
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw new AuthenticationException(explain(refused), e);
        }
        catch
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Why a handshake failed, in one line.</summary>
    public static string Reason(Exception e, TimeSpan deadline) => e switch
    {
        OperationCanceledException => $"no TLS handshake within {deadline.TotalSeconds:0} s",
        AuthenticationException a => $"TLS handshake failed: {a.Message}",
        _ => $"TLS handshake failed: {e.GetBaseException().Message}",
    };
}

using Akka.Event;
using CnnCluster.Security;

namespace CnnCluster.Shared.Security;

/// <summary>The cluster's trust as Akka remoting's mutual TLS needs it.</summary>
public static class RemotingTrust
{
    /// <summary>The validator for Akka remoting's mutual TLS (both directions), logging who was refused.</summary>
    public static Akka.Remote.Transport.DotNetty.CertificateValidationCallback RemotingValidator(this ClusterTrust trust) => (certificate, _, peer, _, log) =>
    {
        if (trust.Admits(certificate, null, out string why))
        {
            return true;
        }

        log?.Warning("refused a TLS connection with {0}: {1}", peer, why);
        return false;
    };
}

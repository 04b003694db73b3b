using System.Formats.Asn1;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace CnnCluster.Security;

/// <summary>
/// The cluster's certificates: its own authority (ECDSA P-256, may sign node certificates and nothing below
/// them) and one certificate per role (<see cref="NodeRole"/>), each naming its role as a subject alternative
/// name URI beside the DNS names and addresses it may be reached by. Read back: the names and the role.
/// </summary>
public static class NodeCertificates
{
    private static readonly TimeSpan AuthorityLife = TimeSpan.FromDays(3650);

    /// <summary>How long a node certificate lives: short, so a copied one stops working; `coordinator secrets` renews it.</summary>
    public static readonly TimeSpan NodeLife = TimeSpan.FromDays(90);

    /// <summary>A node certificate this close to its end is renewed by `coordinator secrets`, and its node warns at start.</summary>
    public static readonly TimeSpan RenewWithin = TimeSpan.FromDays(30);

    /// <summary>A self-signed CA that may sign node certificates and nothing below them.</summary>
    public static X509Certificate2 NewAuthority(string name = "CnnCluster authority")
    {
        using ECDsa key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName($"CN={name}, O=CnnCluster"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: true, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        DateTimeOffset now = DateTimeOffset.UtcNow;
        return request.CreateSelfSigned(now.AddMinutes(-5), now + AuthorityLife);
    }

    /// <summary>
    /// A certificate for <paramref name="role"/> signed by <paramref name="authority"/>, for servers and clients
    /// alike, valid for <paramref name="names"/> (DNS names or IP addresses) and <paramref name="life"/> (default <see cref="NodeLife"/>).
    /// A null role makes a certificate of no role (what clusters issued before roles; tests show it is refused).
    /// </summary>
    public static X509Certificate2 NewNode(X509Certificate2 authority, NodeRole? role, IEnumerable<string> names, TimeSpan? life = null)
    {
        using ECDsa key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        string common = role is null ? "CnnCluster node" : $"CnnCluster {role.Value.Name()}";
        var request = new CertificateRequest(new X500DistinguishedName($"CN={common}, O=CnnCluster"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyAgreement, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(ClusterTrust.ServerAuthentication), new Oid(ClusterTrust.ClientAuthentication)], critical: false));
        var alternative = new SubjectAlternativeNameBuilder();
        foreach (string n in names)
        {
            if (IPAddress.TryParse(n, out IPAddress? address))
            {
                alternative.AddIpAddress(address);
            }
            else
            {
                alternative.AddDnsName(n);
            }
        }

        if (role is not null)
        {
            alternative.AddUri(new Uri(role.Value.Uri()));
        }

        request.CertificateExtensions.Add(alternative.Build());
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(authority, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        DateTimeOffset now = DateTimeOffset.UtcNow;
        DateTimeOffset until = now + (life ?? NodeLife);
        using X509Certificate2 publicOnly = request.Create(authority, now.AddMinutes(-5), until < authority.NotAfter ? until : authority.NotAfter, RandomNumberGenerator.GetBytes(16));
        return publicOnly.CopyWithPrivateKey(key);
    }

    /// <summary>The DNS names and IP addresses <paramref name="certificate"/> is valid for.</summary>
    public static string[] NamesOf(X509Certificate2 certificate) =>
        certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>()
            .SelectMany(e => e.EnumerateDnsNames().Concat(e.EnumerateIPAddresses().Select(a => a.ToString())))
            .Select(NormalName).ToArray();

    /// <summary>The role <paramref name="certificate"/> names (its cnncluster:role: URI), or null when it names none or more than one.</summary>
    public static NodeRole? RoleOf(X509Certificate2 certificate)
    {
        NodeRole?[] roles = [.. UrisOf(certificate).Select(NodeRoles.FromUri).Where(r => r is not null).Distinct()];
        return roles.Length == 1 ? roles[0] : null;
    }

    /// <summary>The URIs among <paramref name="certificate"/>'s subject alternative names (GeneralName [6], RFC 5280 §4.2.1.6).</summary>
    private static IEnumerable<string> UrisOf(X509Certificate2 certificate)
    {
        var uris = new List<string>();
        var uriTag = new Asn1Tag(TagClass.ContextSpecific, 6);
        foreach (X509Extension extension in certificate.Extensions.Where(e => e.Oid?.Value == "2.5.29.17"))
        {
            try
            {
                AsnReader names = new AsnReader(extension.RawData, AsnEncodingRules.DER).ReadSequence();
                while (names.HasData)
                {
                    if (names.PeekTag().HasSameClassAndValue(uriTag))
                    {
                        uris.Add(names.ReadCharacterString(UniversalTagNumber.IA5String, uriTag));
                    }
                    else
                    {
                        names.ReadEncodedValue();
                    }
                }
            }
            catch (AsnContentException)
            {
                // a malformed extension names no role
            }
        }

        return uris;
    }

    /// <summary>
    /// A name a certificate may carry, as it is compared: an IP address in its canonical form, a DNS name in
    /// lower case; anything else is an <see cref="ArgumentException"/> that says what a name may be.
    /// </summary>
    public static string NormalName(string name)
    {
        string n = name.Trim();
        if (IPAddress.TryParse(n, out IPAddress? address))
        {
            return address.ToString();
        }

        bool dns = n.Length is > 0 and <= 253 && n.Split('.').All(label => label.Length is > 0 and <= 63
            && label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-') && label[0] != '-' && label[^1] != '-');
        return dns ? n.ToLowerInvariant() : throw new ArgumentException($"'{name}' is neither a DNS name nor an IP address (e.g. cnn.example.org, 10.0.0.5)");
    }
}

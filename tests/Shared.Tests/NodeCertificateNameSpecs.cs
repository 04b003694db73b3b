using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using CnnCluster.Security;
using Xunit;

namespace CnnCluster.Shared.Tests;

/// <summary>
/// The node certificate names what users connect to (compose's services, localhost, 127.0.0.1, and `--name`),
/// so a browser or pbm with the cluster's CA can check the name; a name added later reissues it under the same
/// authority; pbm's handshake (name checked) refuses a node whose certificate does not carry the name it dialled,
/// in one line that says how to add it, while node-to-node links (chain only) do not care.
/// </summary>
public sealed class NodeCertificateNameSpecs : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("names-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private X509Certificate2 Node() => X509CertificateLoader.LoadPkcs12FromFile(Path.Combine(_folder, ClusterSecrets.NodeFile), null, X509KeyStorageFlags.EphemeralKeySet);

    [Fact]
    public void TheNodeCertificateNamesTheServicesThisMachineAndWhatWasAsked()
    {
        ClusterSecrets.Ensure(_folder, ["cnn.example.org", "10.1.2.3"]);
        Assert.Equal(["cnncluster-node", "coordinator", "worker", "localhost", "cnn.example.org", "127.0.0.1", "::1", "10.1.2.3"], ClusterSecrets.NamesOf(Node()));
    }

    [Fact]
    public void ANewNameReissuesTheNodeCertificateUnderTheSameAuthorityAndKeepsTheOldNames()
    {
        ClusterSecrets.Ensure(_folder, ["first.example.org"]);
        string authority = File.ReadAllText(Path.Combine(_folder, ClusterSecrets.AuthorityFile));
        Assert.Empty(ClusterSecrets.Ensure(_folder, ["FIRST.example.org"])); // names compare as DNS does
        Assert.Equal([ClusterSecrets.NodeFile], ClusterSecrets.Ensure(_folder, ["second.example.org"]));
        Assert.Contains("first.example.org", ClusterSecrets.NamesOf(Node()));
        Assert.Contains("second.example.org", ClusterSecrets.NamesOf(Node()));
        Assert.Equal(authority, File.ReadAllText(Path.Combine(_folder, ClusterSecrets.AuthorityFile)));
        ClusterTrust.Load(_folder); // still signed by it
    }

    [Theory]
    [InlineData("two words")]
    [InlineData("-leading.example.org")]
    [InlineData("")]
    public void ANameThatIsNeitherDnsNorAnAddressIsRefused(string name)
    {
        var e = Assert.Throws<ArgumentException>(() => ClusterSecrets.Ensure(_folder, [name]));
        Assert.Contains("is neither a DNS name nor an IP address", e.Message);
        Assert.False(File.Exists(Path.Combine(_folder, ClusterSecrets.NodeFile)));
    }

    [Fact]
    public async Task AClientThatChecksTheNameRefusesANodeNotNamedSoAndSaysHowToAddIt()
    {
        ClusterSecrets.Ensure(_folder);
        // a node certificate from before the names: only the old shared name
        using (X509Certificate2 authority = X509Certificate2.CreateFromPemFile(Path.Combine(_folder, ClusterSecrets.AuthorityFile), Path.Combine(_folder, ClusterSecrets.AuthorityKeyFile)))
        using (X509Certificate2 old = ClusterSecrets.NewNode(authority, names: ["cnncluster-node"]))
        {
            File.WriteAllBytes(Path.Combine(_folder, ClusterSecrets.NodeFile), old.Export(X509ContentType.Pkcs12));
        }

        ClusterTrust trust = ClusterTrust.Load(_folder);
        ClusterTrust pbm = ClusterTrust.AuthorityOnly(Path.Combine(_folder, ClusterSecrets.AuthorityFile));
        Assert.Null(await Handshake(trust, pbm, "127.0.0.1", checkName: false));
        string? refused = await Handshake(trust, pbm, "127.0.0.1", checkName: true);
        Assert.NotNull(refused);
        Assert.Contains("127.0.0.1 is not a node of this cluster: its certificate does not name '127.0.0.1' (it names cnncluster-node)", refused);
        Assert.Contains("coordinator secrets --out DIR --name 127.0.0.1", refused);

        ClusterSecrets.Ensure(_folder); // the names added: the same client is content
        Assert.Null(await Handshake(ClusterTrust.Load(_folder), pbm, "127.0.0.1", checkName: true));
        Assert.Null(await Handshake(ClusterTrust.Load(_folder), pbm, "localhost", checkName: true));
    }

    /// <summary>A TLS handshake over a real socket on 127.0.0.1; null when it succeeded, else the client's error.</summary>
    private static async Task<string?> Handshake(ClusterTrust server, ClusterTrust client, string host, bool checkName)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var dialled = new TcpClient();
        Task connect = dialled.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port);
        using TcpClient accepted = await listener.AcceptTcpClientAsync();
        await connect;
        TimeSpan deadline = TimeSpan.FromSeconds(10);
        Task<SslStream> serving = Tls.ServerAsync(accepted.GetStream(), server, deadline, CancellationToken.None, mutual: false);
        try
        {
            await using SslStream ssl = await Tls.ClientAsync(dialled.GetStream(), host, client, deadline, CancellationToken.None, mutual: false, checkName: checkName);
            await using SslStream served = await serving;
            return null;
        }
        catch (AuthenticationException e)
        {
            dialled.Close();
            await Task.WhenAny(serving);
            return e.Message;
        }
    }
}

using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using CnnCluster.Security;
using Xunit;

namespace CnnCluster.Shared.Tests;

/// <summary>
/// Each role's certificate names what users connect to it by (compose's service, localhost, 127.0.0.1, and
/// `--name`), so a browser or pbm with the cluster's CA can check the name; the workers' never names the
/// coordinator, so a worker cannot pose as it to pbm; a name added later reissues the certificates under the
/// same authority; pbm's handshake (name checked) refuses a node whose certificate does not carry the name it
/// dialled, in one line that says how to add it, while node-to-node links (chain and role only) do not care.
/// </summary>
public sealed class NodeCertificateNameSpecs : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("names-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private X509Certificate2 Node(NodeRole role) => X509CertificateLoader.LoadPkcs12FromFile(Path.Combine(_folder, role.Name(), ClusterSecrets.NodeFile), null, X509KeyStorageFlags.EphemeralKeySet);

    private ClusterTrust Pbm => ClusterTrust.AuthorityOnly(Path.Combine(_folder, ClusterSecrets.PbmFolder, ClusterSecrets.AuthorityFile));

    [Fact]
    public void EachRolesCertificateNamesItsServiceThisMachineAndWhatWasAsked()
    {
        ClusterSecrets.Ensure(_folder, ["cnn.example.org", "10.1.2.3"]);
        Assert.Equal(["cnncluster-node", "coordinator", "localhost", "cnn.example.org", "127.0.0.1", "::1", "10.1.2.3"], NodeCertificates.NamesOf(Node(NodeRole.Coordinator)));
        Assert.Equal(["worker", "localhost", "cnn.example.org", "127.0.0.1", "::1", "10.1.2.3"], NodeCertificates.NamesOf(Node(NodeRole.Worker)));
    }

    [Fact]
    public void ANewNameReissuesTheNodeCertificatesUnderTheSameAuthorityAndKeepsTheOldNames()
    {
        ClusterSecrets.Ensure(_folder, ["first.example.org"]);
        string authority = File.ReadAllText(Path.Combine(_folder, ClusterSecrets.AuthorityFile));
        Assert.Empty(ClusterSecrets.Ensure(_folder, ["FIRST.example.org"])); // names compare as DNS does
        Assert.Equal([Path.Combine("coordinator", ClusterSecrets.NodeFile), Path.Combine("worker", ClusterSecrets.NodeFile)], ClusterSecrets.Ensure(_folder, ["second.example.org"]));
        Assert.Contains("first.example.org", NodeCertificates.NamesOf(Node(NodeRole.Coordinator)));
        Assert.Contains("second.example.org", NodeCertificates.NamesOf(Node(NodeRole.Coordinator)));
        Assert.Equal(authority, File.ReadAllText(Path.Combine(_folder, ClusterSecrets.AuthorityFile)));
        ClusterTrust.Load(_folder, NodeRole.Coordinator); // still signed by it
        ClusterTrust.Load(_folder, NodeRole.Worker);
    }

    [Theory]
    [InlineData("two words")]
    [InlineData("-leading.example.org")]
    [InlineData("")]
    public void ANameThatIsNeitherDnsNorAnAddressIsRefused(string name)
    {
        var e = Assert.Throws<ArgumentException>(() => ClusterSecrets.Ensure(_folder, [name]));
        Assert.Contains("is neither a DNS name nor an IP address", e.Message);
        Assert.False(File.Exists(Path.Combine(_folder, "coordinator", ClusterSecrets.NodeFile)));
    }

    [Fact]
    public async Task AClientThatChecksTheNameRefusesANodeNotNamedSoAndSaysHowToAddIt()
    {
        ClusterSecrets.Ensure(_folder);
        string path = Path.Combine(_folder, "coordinator", ClusterSecrets.NodeFile);
        // a coordinator certificate from before the names: only the old shared name
        using (X509Certificate2 authority = X509Certificate2.CreateFromPemFile(Path.Combine(_folder, ClusterSecrets.AuthorityFile), Path.Combine(_folder, ClusterSecrets.AuthorityKeyFile)))
        using (X509Certificate2 old = NodeCertificates.NewNode(authority, NodeRole.Coordinator, ["cnncluster-node"]))
        {
            File.WriteAllBytes(path, old.Export(X509ContentType.Pkcs12));
        }

        ClusterTrust trust = ClusterTrust.Load(_folder, NodeRole.Coordinator);
        Assert.Null(await Handshake(trust, Pbm, "127.0.0.1", checkName: false));
        string? refused = await Handshake(trust, Pbm, "127.0.0.1", checkName: true);
        Assert.NotNull(refused);
        Assert.Contains("127.0.0.1 is not a node of this cluster: its certificate does not name '127.0.0.1' (it names cnncluster-node)", refused);
        Assert.Contains("coordinator secrets --out DIR --name 127.0.0.1", refused);

        ClusterSecrets.Ensure(_folder); // the names added: the same client is content
        Assert.Null(await Handshake(ClusterTrust.Load(_folder, NodeRole.Coordinator), Pbm, "127.0.0.1", checkName: true));
        Assert.Null(await Handshake(ClusterTrust.Load(_folder, NodeRole.Coordinator), Pbm, "localhost", checkName: true));
    }

    [Fact]
    public async Task AWorkersCertificateCannotPoseAsTheCoordinatorToPbm()
    {
        ClusterSecrets.Ensure(_folder);
        string? refused = await Handshake(ClusterTrust.Load(_folder, NodeRole.Worker), Pbm, "coordinator", checkName: true);
        Assert.Contains("its certificate does not name 'coordinator' (it names worker, localhost, 127.0.0.1, ::1)", refused);
        Assert.Null(await Handshake(ClusterTrust.Load(_folder, NodeRole.Coordinator), Pbm, "coordinator", checkName: true));
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

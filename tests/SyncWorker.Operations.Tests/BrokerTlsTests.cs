using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using SyncWorker.Contracts;
using SyncWorker.Testing;

namespace SyncWorker.Operations.Tests;

/// <summary>
/// The verbs connect like the worker: over <c>amqps://</c> each node's certificate is checked against that node's own
/// name, trusting the CA of <c>RabbitMq:CaCertificatePath</c>. One private node listens for TLS on 127.0.0.1 with a
/// certificate for the DNS name <c>localhost</c> only; the Uri's node is a closed port, so the verb connects to the
/// <c>RabbitMq:Hosts</c> entry.
/// </summary>
[TestFixture]
public sealed class BrokerTlsTests
{
    private TestCertificateAuthority _ca = null!;
    private RabbitMqNode _node = null!;
    private string _folder = null!;
    private string _caFile = null!;

    [OneTimeSetUp]
    public async Task StartBrokerAsync()
    {
        _ca = TestCertificateAuthority.Create("SyncWorker test CA");
        _folder = Directory.CreateTempSubdirectory("syncworker-tls-").FullName;
        _caFile = _ca.WritePem(Path.Combine(_folder, "ca.pem"));
        _node = await RabbitMqNode.LaunchAsync(
            $"swtlsop{System.Environment.ProcessId}x{Guid.NewGuid().ToString("N")[..6]}", _ca.Issue(["localhost"]));
    }

    [OneTimeTearDown]
    public async Task StopBrokerAsync()
    {
        await _node.DisposeAsync();
        _ca.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    [Test]
    public async Task A_verb_connects_to_a_hosts_entry_whose_certificate_is_for_that_entrys_name()
    {
        var vhost = await _node.CreateVirtualHostAsync();

        var pause = await CliHarness.RunAsync(Configuration(vhost, first: "127.0.0.1", second: "localhost", _caFile), "targets", "pause", "warehouse");

        Assert.That(pause.ExitCode, Is.Zero, pause.ToString());
        Assert.That(await _node.MessageCountAsync(vhost, Topology.PausedMarker("warehouse")), Is.Zero, "the marker queue was made over TLS");
    }

    [Test]
    public async Task A_verb_refuses_a_node_whose_certificate_is_for_another_name()
    {
        var vhost = await _node.CreateVirtualHostAsync();

        var pause = await CliHarness.RunAsync(Configuration(vhost, first: "localhost", second: "127.0.0.1", _caFile), "targets", "pause", "warehouse");

        Assert.That(pause.ExitCode, Is.EqualTo(1), pause.ToString());
        Assert.That(pause.Error, Does.Contain("RemoteCertificateNameMismatch").And.Contain($"127.0.0.1:{_node.TlsPort}"));
    }

    [Test]
    public async Task A_verb_refuses_a_certificate_signed_by_a_CA_other_than_RabbitMq_CaCertificatePath()
    {
        var vhost = await _node.CreateVirtualHostAsync();
        using var other = TestCertificateAuthority.Create("Some other CA");
        var otherFile = other.WritePem(Path.Combine(_folder, "other-ca.pem"));

        var pause = await CliHarness.RunAsync(Configuration(vhost, first: "127.0.0.1", second: "localhost", otherFile), "targets", "pause", "warehouse");

        Assert.That(pause.ExitCode, Is.EqualTo(1), pause.ToString());
        Assert.That(pause.Error, Does.Contain("RemoteCertificateChainErrors").And.Contain("RabbitMq:CaCertificatePath"));
    }

    [Test]
    public async Task A_missing_ca_file_is_a_configuration_error_naming_the_key()
    {
        var vhost = await _node.CreateVirtualHostAsync();

        var list = await CliHarness.RunAsync(Configuration(vhost, "127.0.0.1", "localhost", Path.Combine(_folder, "absent.pem")), "targets", "pause", "warehouse");

        Assert.That(list.ExitCode, Is.EqualTo(78), list.ToString());
        Assert.That(list.Error, Does.Contain("RabbitMq:CaCertificatePath").And.Contain("no such file"));
    }

    private IConfiguration Configuration(string vhost, string first, string second, string caFile) =>
        new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["RabbitMq:Uri"] = $"amqps://guest:guest@{first}:{ClosedPort()}/{Uri.EscapeDataString(vhost)}",
            ["RabbitMq:Hosts"] = $"{second}:{_node.TlsPort}",
            ["RabbitMq:CaCertificatePath"] = caFile,
            ["Fulfillment:Targets:0:Name"] = "warehouse",
            ["Fulfillment:Targets:0:Url"] = "https://warehouse.example.com/hooks",
        }).Build();

    /// <summary>A loopback port nothing listens on (bound, then released).</summary>
    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using SyncWorker.Contracts;
using SyncWorker.Testing;

namespace SyncWorker.Messaging.Tests;

/// <summary>
/// TLS to every node of <c>RabbitMq:Uri</c> and <c>RabbitMq:Hosts</c>, for the receivers' publisher and the forwarders'
/// MassTransit bus: each connection checks the certificate of the node it reaches against that node's own name, and
/// trusts only the CA of <c>RabbitMq:CaCertificatePath</c> (or the system store).
/// One private node listens for TLS on 127.0.0.1 with a certificate for the DNS name <c>localhost</c> only, signed by a CA
/// made for the test. The same node is therefore the right node under the name <c>localhost</c> and a node with a
/// certificate for another name under the name <c>127.0.0.1</c>. The first node of each configuration is a closed port,
/// so every connection is made to the <c>RabbitMq:Hosts</c> entry.
/// </summary>
[NonParallelizable]
public sealed class BrokerTlsTests
{
    private static readonly TimeSpan BusDeadline = TimeSpan.FromSeconds(60);

    private TestCertificateAuthority _ca = null!;
    private TestCertificateAuthority _otherCa = null!;
    private RabbitMqNode _node = null!;
    private string _folder = null!;
    private string _caFile = null!;
    private string _otherCaFile = null!;

    [OneTimeSetUp]
    public async Task StartBroker()
    {
        _ca = TestCertificateAuthority.Create("SyncWorker test CA");
        _otherCa = TestCertificateAuthority.Create("Some other CA");
        _folder = Directory.CreateTempSubdirectory("syncworker-tls-").FullName;
        _caFile = _ca.WritePem(Path.Combine(_folder, "ca.pem"));
        _otherCaFile = _otherCa.WritePem(Path.Combine(_folder, "other-ca.pem"));
        _node = await RabbitMqNode.LaunchAsync(
            $"swtls{System.Environment.ProcessId}x{Guid.NewGuid().ToString("N")[..6]}", _ca.Issue(["localhost"]));
    }

    [OneTimeTearDown]
    public async Task StopBroker()
    {
        await _node.DisposeAsync();
        _ca.Dispose();
        _otherCa.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    [Test]
    public async Task The_publisher_connects_to_a_hosts_entry_whose_certificate_is_for_that_entrys_name()
    {
        var vhost = await _node.CreateVirtualHostAsync();
        await using var publisher = Publisher(Settings(vhost, first: "127.0.0.1", second: "localhost", _caFile));

        await publisher.PublishAsync(Event("evt_tls_publisher_ok"), CancellationToken.None);

        Assert.That(publisher.ConnectedNode, Is.EqualTo($"localhost:{_node.TlsPort}"));
        Assert.That(await _node.MessageCountAsync(vhost, Topology.IntakeQueue), Is.EqualTo(1u));
        Assert.That(await ConnectionsAsync(vhost), Is.Not.Empty.And.All.EqualTo("true"), "every connection to the vhost is TLS");
    }

    [Test]
    public async Task The_publisher_refuses_a_node_whose_certificate_is_for_another_name()
    {
        var vhost = await _node.CreateVirtualHostAsync();
        await using var publisher = Publisher(Settings(vhost, first: "localhost", second: "127.0.0.1", _caFile));

        var refused = Assert.ThrowsAsync<EventNotQueuedException>(() => publisher.PublishAsync(Event("evt_tls_publisher_name"), CancellationToken.None));

        TestContext.Out.WriteLine(refused!.Message);
        Assert.That(refused.Message, Does.Contain("RemoteCertificateNameMismatch").And.Contain($"127.0.0.1:{_node.TlsPort}"));
        Assert.That(publisher.ConnectedNode, Is.Null);
        Assert.That(await ConnectionsAsync(vhost), Is.Empty);
    }

    [TestCase(true, TestName = "The_publisher_refuses_a_certificate_signed_by_a_CA_other_than_RabbitMq_CaCertificatePath")]
    [TestCase(false, TestName = "The_publisher_refuses_a_certificate_signed_by_a_CA_the_system_does_not_trust")]
    public async Task The_publisher_refuses_an_untrusted_certificate(bool otherCa)
    {
        var vhost = await _node.CreateVirtualHostAsync();
        await using var publisher = Publisher(Settings(vhost, first: "127.0.0.1", second: "localhost", otherCa ? _otherCaFile : null));

        var refused = Assert.ThrowsAsync<EventNotQueuedException>(() => publisher.PublishAsync(Event("evt_tls_publisher_ca"), CancellationToken.None));

        TestContext.Out.WriteLine(refused!.Message);
        Assert.That(refused.Message, Does.Contain("RemoteCertificateChainErrors").And.Contain("RabbitMq:CaCertificatePath"));
        Assert.That(await ConnectionsAsync(vhost), Is.Empty);
    }

    [Test]
    public async Task The_bus_connects_to_a_hosts_entry_whose_certificate_is_for_that_entrys_name()
    {
        var vhost = await _node.CreateVirtualHostAsync();
        var logs = new CapturedLogs();
        var received = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var host = BusHost(Settings(vhost, first: "127.0.0.1", second: "localhost", _caFile), logs, received);
        await host.StartAsync();
        try
        {
            // Publish only once the receive endpoint is up: MassTransit drops a message no queue is bound for yet.
            var bus = host.Services.GetRequiredService<IBusControl>();
            var healthy = await Eventually.TrueAsync(() => bus.CheckHealth().Status == BusHealthStatus.Healthy, BusDeadline);
            Assert.That(healthy, Is.True, "the bus and its receive endpoint are up\n" + logs);
            using var deadline = new CancellationTokenSource(BusDeadline);
            await bus.Publish(new TlsPing("ping-1"), deadline.Token);

            Assert.That(await received.Task.WaitAsync(deadline.Token), Is.EqualTo("ping-1"), logs.ToString());
            Assert.That(await ConnectionsAsync(vhost), Is.Not.Empty.And.All.EqualTo("true"), "every connection to the vhost is TLS");
        }
        finally
        {
            await host.StopAsync();
        }
    }

    [Test]
    public async Task The_bus_refuses_a_node_whose_certificate_is_for_another_name()
    {
        var vhost = await _node.CreateVirtualHostAsync();
        var logs = new CapturedLogs();
        using var host = BusHost(Settings(vhost, first: "localhost", second: "127.0.0.1", _caFile), logs, null);
        await host.StartAsync();
        try
        {
            var said = await Eventually.TrueAsync(() => logs.Contains("RemoteCertificateNameMismatch"), BusDeadline);

            Assert.That(said, Is.True, "the bus logs that the node's certificate is for another name\n" + logs);
            Assert.That(await ConnectionsAsync(vhost), Is.Empty, "no connection was accepted");
        }
        finally
        {
            await host.StopAsync();
        }
    }

    [Test]
    public async Task The_bus_refuses_a_certificate_signed_by_a_CA_other_than_RabbitMq_CaCertificatePath()
    {
        var vhost = await _node.CreateVirtualHostAsync();
        var logs = new CapturedLogs();
        using var host = BusHost(Settings(vhost, first: "127.0.0.1", second: "localhost", _otherCaFile), logs, null);
        await host.StartAsync();
        try
        {
            var said = await Eventually.TrueAsync(() => logs.Contains("RemoteCertificateChainErrors"), BusDeadline);

            Assert.That(said, Is.True, "the bus logs that the certificate is not signed by a trusted CA\n" + logs);
            Assert.That(await ConnectionsAsync(vhost), Is.Empty, "no connection was accepted");
        }
        finally
        {
            await host.StopAsync();
        }
    }

    /// <summary>
    /// <c>RabbitMq:Uri</c> names <paramref name="first"/> at a closed port (so it is skipped), <c>RabbitMq:Hosts</c> names
    /// <paramref name="second"/> at the TLS port.
    /// </summary>
    private Dictionary<string, string?> Settings(string vhost, string first, string second, string? caFile)
    {
        var settings = new Dictionary<string, string?>
        {
            ["RabbitMq:Uri"] = $"amqps://guest:guest@{first}:{ClosedPort()}/{Uri.EscapeDataString(vhost)}",
            ["RabbitMq:Hosts"] = $"{second}:{_node.TlsPort}",
            ["RabbitMq:ConnectionName"] = "tls-tests",
        };
        if (caFile is not null)
        {
            settings["RabbitMq:CaCertificatePath"] = caFile;
        }

        return settings;
    }

    private static MessagingTransport Resolve(Dictionary<string, string?> settings) =>
        MessagingTransport.Resolve(new ConfigurationBuilder().AddInMemoryCollection(settings).Build(), new HostingEnvironment { EnvironmentName = "Development" });

    private static RabbitMqStripeEventPublisher Publisher(Dictionary<string, string?> settings) =>
        new(Resolve(settings), NullLogger<RabbitMqStripeEventPublisher>.Instance, TimeSpan.FromSeconds(5));

    private static IHost BusHost(Dictionary<string, string?> settings, CapturedLogs logs, TaskCompletionSource<string>? received)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = "Development", DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Debug);
        builder.Logging.AddProvider(logs);
        builder.AddSyncWorkerMessaging(configureEndpoints: (_, cfg) => cfg.ReceiveEndpoint("syncworker-tls-test", endpoint =>
            endpoint.Handler<TlsPing>(context =>
            {
                received?.TrySetResult(context.Message.Id);
                return Task.CompletedTask;
            })));
        return builder.Build();
    }

    /// <summary>The <c>ssl</c> column of every broker connection to <paramref name="vhost"/>.</summary>
    private async Task<IReadOnlyList<string>> ConnectionsAsync(string vhost)
    {
        var output = await _node.CtlAsync(["list_connections", "vhost", "ssl", "-q", "--no-table-headers"]);
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(line => line.Split('\t'))
            .Where(columns => columns.Length == 2 && columns[0] == vhost)
            .Select(columns => columns[1])
            .ToList();
    }

    private static StripeEventReceived Event(string id) => new(
        id,
        "checkout.session.completed",
        "acct_1TlsTests",
        Livemode: true,
        "2025-03-31.basil",
        DateTimeOffset.FromUnixTimeSeconds(1_764_000_000),
        "checkout.session",
        "cs_test_tls",
        DateTimeOffset.UtcNow,
        "{\"id\":\"" + id + "\",\"object\":\"event\",\"type\":\"checkout.session.completed\"}");

    /// <summary>A loopback port nothing listens on (bound, then released).</summary>
    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private sealed class HostingEnvironment : IHostEnvironment
    {
        public string EnvironmentName { get; set; } = "Development";

        public string ApplicationName { get; set; } = "SyncWorker";

        public string ContentRootPath { get; set; } = AppContext.BaseDirectory;

        public Microsoft.Extensions.FileProviders.IFileProvider ContentRootFileProvider { get; set; } = new Microsoft.Extensions.FileProviders.NullFileProvider();
    }
}

/// <summary>The message the bus test sends itself.</summary>
public sealed record TlsPing(string Id);

/// <summary>Every log entry (message and exception, inner exceptions included) of a test host.</summary>
internal sealed class CapturedLogs : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _entries = new();

    public bool Contains(string text) => _entries.Any(entry => entry.Contains(text, StringComparison.Ordinal));

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _entries);

    public void Dispose()
    {
    }

    public override string ToString() => string.Join('\n', _entries.TakeLast(40));

    private sealed class Logger(string category, ConcurrentQueue<string> entries) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            entries.Enqueue($"{logLevel} {category}: {formatter(state, exception)} {exception}");
    }
}

using Microsoft.Extensions.Configuration;
using System.Text.Json;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using SyncWorker.Contracts;
using SyncWorker.Testing;

namespace SyncWorker.Operations.Tests;

[TestFixture]
public sealed class TargetCommandTests
{
    private RabbitMqNode _node = null!;
    private VirtualHostPool _virtualHosts = null!;
    private string _vhost = null!;

    [OneTimeSetUp]
    public async Task StartBrokerAsync()
    {
        _node = await RabbitMqNode.LaunchAsync();
        _virtualHosts = new VirtualHostPool(_node);
        await _virtualHosts.FillAsync(8);
    }

    [OneTimeTearDown]
    public async Task StopBrokerAsync() => await _node.DisposeAsync();

    [SetUp]
    public async Task CreateVirtualHostAsync() => _vhost = await _virtualHosts.TakeAsync();

    [Test]
    public async Task Pause_creates_the_marker_and_resume_removes_it_both_idempotent()
    {
        var configuration = CliHarness.Configuration(_node.AmqpUri(_vhost), CliHarness.Targets);
        var marker = Topology.PausedMarker("warehouse");

        var pause = await CliHarness.RunAsync(configuration, "targets", "pause", "warehouse");
        Assert.That(pause.ExitCode, Is.Zero, pause.ToString());
        Assert.That(pause.Output, Does.Contain($"Paused target 'warehouse': created {marker}."));
        Assert.That(await MarkerExistsAsync(marker), Is.True);

        var queues = await _node.CtlAsync(["list_queues", "-p", _vhost, "--no-table-headers", "name", "durable", "arguments"]);
        var line = queues.Split('\n').Single(l => l.StartsWith(marker, StringComparison.Ordinal));
        Assert.That(line, Does.Contain("true"), "durable");
        Assert.That(line, Does.Contain("x-max-length").And.Not.Contain("x-queue-type"));

        await using (var connection = await _node.ConnectAsync(_vhost))
        await using (var channel = await connection.CreateChannelAsync())
        {
            await channel.BasicPublishAsync(string.Empty, marker, new ReadOnlyMemory<byte>([1, 2, 3]));
        }

        Assert.That(await _node.MessageCountAsync(_vhost, marker), Is.Zero, "nothing accumulates in the marker");

        var again = await CliHarness.RunAsync(configuration, "targets", "pause", "warehouse");
        Assert.That(again.ExitCode, Is.Zero, again.ToString());
        Assert.That(again.Output, Does.Contain("Target 'warehouse' was already paused"));

        var resume = await CliHarness.RunAsync(configuration, "targets", "resume", "warehouse");
        Assert.That(resume.ExitCode, Is.Zero, resume.ToString());
        Assert.That(resume.Output, Does.Contain($"Resumed target 'warehouse': deleted {marker}."));
        Assert.That(await MarkerExistsAsync(marker), Is.False);

        var resumeAgain = await CliHarness.RunAsync(configuration, "targets", "resume", "warehouse");
        Assert.That(resumeAgain.ExitCode, Is.Zero, resumeAgain.ToString());
        Assert.That(resumeAgain.Output, Does.Contain("Target 'warehouse' was not paused"));
        Assert.That(await MarkerExistsAsync(Topology.PausedMarker("dropship")), Is.False, "other targets untouched");
    }

    [Test]
    public async Task Enable_clears_a_disable_of_a_configured_or_api_target_restarts_its_window_and_refuses_unknown_names()
    {
        var folder = Path.Combine(Path.GetTempPath(), "syncworker-enable-tests", Guid.NewGuid().ToString("N")[..12]);
        var values = new Dictionary<string, string?>
        {
            ["RabbitMq:Uri"] = _node.AmqpUri(_vhost).ToString(),
            ["Store:DataDirectory"] = folder,
            ["Fulfillment:Targets:0:Name"] = "warehouse",
            ["Fulfillment:Targets:0:Url"] = "https://warehouse.example.com/hooks",
        };
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        var settings = SyncWorker.Store.StoreSettings.Resolve(configuration, AppContext.BaseDirectory);
        await new SyncWorker.Store.StoreMigrator(settings).MigrateAsync(CancellationToken.None);
        using (var ledger = new SyncWorker.Store.Ledger.SqlDeliveryLedger(settings, TimeProvider.System))
        {
            // Disabled by a forwarder: the row and the marker; "api-partner" is a target of the admin API.
            var health = new SyncWorker.Store.Targets.SqlTargetHealth(ledger, TimeProvider.System);
            Assert.That(await health.TryDisableAsync("warehouse", DateTimeOffset.UtcNow.AddHours(-73), "HTTP 503", CancellationToken.None), Is.True);
            Assert.That(await health.TryDisableAsync("api-partner", DateTimeOffset.UtcNow.AddHours(-73), "HTTP 500", CancellationToken.None), Is.True);
        }

        await using (var connection = await _node.ConnectAsync(_vhost))
        await using (var channel = await connection.CreateChannelAsync())
        {
            foreach (var name in new[] { "warehouse", "api-partner" })
            {
                await channel.QueueDeclareAsync(Topology.DisabledMarker(name), durable: true, exclusive: false, autoDelete: false,
                    new Dictionary<string, object?> { ["x-max-length"] = 0 });
            }
        }

        var enabled = await CliHarness.RunAsync(configuration, "targets", "enable", "warehouse");
        Assert.That(enabled.ExitCode, Is.Zero, enabled.ToString());
        Assert.That(enabled.Output, Does.Contain("Enabled target 'warehouse'").And.Contain("failing since").And.Contain($"deleted {Topology.DisabledMarker("warehouse")}"));
        Assert.That(await MarkerExistsAsync(Topology.DisabledMarker("warehouse")), Is.False);

        var again = await CliHarness.RunAsync(configuration, "targets", "enable", "warehouse");
        Assert.That(again.ExitCode, Is.Zero, again.ToString());
        Assert.That(again.Output, Does.Contain("was not disabled"));

        var api = await CliHarness.RunAsync(configuration, "targets", "enable", "api-partner");
        Assert.That(api.ExitCode, Is.Zero, api.ToString());
        Assert.That(await MarkerExistsAsync(Topology.DisabledMarker("api-partner")), Is.False, "a disabled target of the API is enabled too");

        var unknown = await CliHarness.RunAsync(configuration, "targets", "enable", "nobody");
        Assert.That(unknown.ExitCode, Is.EqualTo(2), unknown.ToString());
        Assert.That(unknown.Error, Does.Contain("Unknown target 'nobody'").And.Contain("warehouse"));

        var audit = await CliHarness.RunAsync(configuration, "audit", "list", "--json");
        Assert.That(audit.Output, Does.Contain("targets.enable").And.Contain("warehouse").And.Contain("api-partner"));
    }

    [Test]
    public async Task Targets_list_shows_paused_state_and_counts()
    {
        var configuration = CliHarness.Configuration(_node.AmqpUri(_vhost), CliHarness.Targets);
        await using (var connection = await _node.ConnectAsync(_vhost))
        await using (var channel = await connection.CreateChannelAsync())
        {
            await DeadLetterSeed.DeclareTargetAsync(channel, "warehouse");
            await DeadLetterSeed.DeclareTargetAsync(channel, "dropship");
            for (var i = 0; i < 2; i++)
            {
                await channel.BasicPublishAsync(string.Empty, Topology.TargetQueue("warehouse"), new ReadOnlyMemory<byte>([1]));
            }
        }

        await DeadLetterSeed.SeedAsync(_node, _vhost, [new DeadLetterSpec("warehouse", "evt_1A"), new DeadLetterSpec("dropship", "evt_1B")]);
        await DeadLetterSeed.SeedAsync(_node, _vhost, [new DeadLetterSpec("dropship", "evt_1C")]);
        Assert.That((await CliHarness.RunAsync(configuration, "targets", "pause", "dropship")).ExitCode, Is.Zero);

        var table = await CliHarness.RunAsync(configuration, "targets", "list");
        Assert.That(table.ExitCode, Is.Zero, table.ToString());
        var lines = table.Output.Split('\n');
        var warehouse = lines.Single(l => l.Contains("syncworker.target.warehouse", StringComparison.Ordinal));
        var dropship = lines.Single(l => l.Contains("syncworker.target.dropship", StringComparison.Ordinal));
        var archive = lines.Single(l => l.Contains("syncworker.target.archive", StringComparison.Ordinal));
        Assert.That(warehouse, Does.Match(@"warehouse\s*│\s*active\s*│\s*syncworker\.target\.warehouse\s*│\s*2\s*│\s*0\s*│\s*1\s*│"));
        Assert.That(dropship, Does.Match(@"dropship\s*│\s*paused\s*│\s*syncworker\.target\.dropship\s*│\s*0\s*│\s*0\s*│\s*2\s*│"));
        Assert.That(archive, Does.Contain("active").And.Contain("(not declared yet)"));

        var json = await CliHarness.RunAsync(configuration, "targets", "list", "--json");
        Assert.That(json.ExitCode, Is.Zero, json.ToString());
        using var document = JsonDocument.Parse(json.Output);
        var targets = document.RootElement.GetProperty("targets").EnumerateArray().ToDictionary(t => t.GetProperty("target").GetString()!);
        Assert.That(targets.Keys, Is.EqualTo(CliHarness.Targets));
        Assert.That(targets["warehouse"].GetProperty("paused").GetBoolean(), Is.False);
        Assert.That(targets["warehouse"].GetProperty("ready").GetInt32(), Is.EqualTo(2));
        Assert.That(targets["warehouse"].GetProperty("consumers").GetInt32(), Is.Zero);
        Assert.That(targets["warehouse"].GetProperty("deadLetters").GetInt32(), Is.EqualTo(1));
        Assert.That(targets["dropship"].GetProperty("paused").GetBoolean(), Is.True);
        Assert.That(targets["dropship"].GetProperty("deadLetters").GetInt32(), Is.EqualTo(2));
        Assert.That(targets["archive"].GetProperty("ready").ValueKind, Is.EqualTo(JsonValueKind.Null));
    }

    private async Task<bool> MarkerExistsAsync(string marker)
    {
        try
        {
            await _node.MessageCountAsync(_vhost, marker);
            return true;
        }
        catch (OperationInterruptedException exception) when (exception.ShutdownReason?.ReplyCode == 404)
        {
            return false;
        }
    }
}

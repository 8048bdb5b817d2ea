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

using System.Globalization;
using System.Text.Json;
using RabbitMQ.Client;
using SyncWorker.Contracts;
using SyncWorker.Testing;

namespace SyncWorker.Operations.Tests;

/// <summary>
/// <c>dead-letters list</c>, <c>dead-letters replay</c> and <c>status</c> with <c>syncworker.poison</c>: poison messages
/// made by RabbitMQ itself (a quorum queue's delivery limit, see <see cref="PoisonSeed"/>), and without the queue.
/// </summary>
[TestFixture]
public sealed class PoisonTests
{
    private RabbitMqNode _node = null!;
    private VirtualHostPool _virtualHosts = null!;
    private string _vhost = null!;

    [OneTimeSetUp]
    public async Task StartBrokerAsync()
    {
        _node = await RabbitMqNode.LaunchAsync();
        _virtualHosts = new VirtualHostPool(_node);
        await _virtualHosts.FillAsync(10);
    }

    [OneTimeTearDown]
    public async Task StopBrokerAsync() => await _node.DisposeAsync();

    [SetUp]
    public async Task CreateVirtualHostAsync() => _vhost = await _virtualHosts.TakeAsync();

    [Test]
    public async Task List_shows_poison_messages_with_their_source_queue_and_reason_and_leaves_them_in_place()
    {
        var warehouse = new DeadLetterSpec("warehouse", "evt_1POISONW");
        var intakeMessageId = Guid.NewGuid().ToString();
        await PoisonSeed.PoisonAsync(_node, _vhost, PoisonSeed.Delivery(warehouse), PoisonSeed.Intake("evt_1POISONI", intakeMessageId));
        var errorOnly = new DeadLetterSpec("dropship", "evt_1ERRORD");
        await DeadLetterSeed.SeedAsync(_node, _vhost, [errorOnly]);
        var configuration = CliHarness.Configuration(_node.AmqpUri(_vhost), CliHarness.Targets);

        var table = await CliHarness.RunAsync(configuration, "dead-letters", "list");
        await WaitForPoisonAsync(2);
        var json = await CliHarness.RunAsync(configuration, "dead-letters", "list", "--json");
        await WaitForPoisonAsync(2);

        Assert.That(table.ExitCode, Is.Zero, table.ToString());
        Assert.That(table.Output, Does.Contain("dropship: 1 dead letter in syncworker.target.dropship_error"), "error queues as before");
        Assert.That(table.Output, Does.Contain("poison: 2 messages in syncworker.poison (hit the delivery limit)"));
        var lines = table.Output.Split('\n');
        Assert.That(Row(lines, "syncworker.target.warehouse "), Does.Match(
            @"syncworker\.target\.warehouse\s*│\s*delivery_limit\s*│\s*1\s*│\s*evt_1POISONW\s*│\s*checkout\.session\.completed\s*│\s*acct_1QxWarehouse0001\s*│\s*" +
            warehouse.DeliveryId));
        Assert.That(Row(lines, "syncworker.intake "), Does.Match(
            @"syncworker\.intake\s*│\s*delivery_limit\s*│\s*1\s*│\s*evt_1POISONI\s*│\s*checkout\.session\.completed\s*│\s*acct_1QxIntake00001\s*│\s*-\s*│"));

        Assert.That(json.ExitCode, Is.Zero, json.ToString());
        using var document = JsonDocument.Parse(json.Output);
        var poison = document.RootElement.GetProperty("poison");
        Assert.That(poison.GetProperty("queue").GetString(), Is.EqualTo(Topology.PoisonQueue));
        Assert.That(poison.GetProperty("queueExists").GetBoolean(), Is.True);
        Assert.That(poison.GetProperty("from").ValueKind, Is.EqualTo(JsonValueKind.Null));
        Assert.That(poison.GetProperty("count").GetInt32(), Is.EqualTo(2));
        Assert.That(poison.GetProperty("listed").GetInt32(), Is.EqualTo(2));
        var first = poison.GetProperty("messages")[0];
        Assert.That(first.GetProperty("messageId").GetString(), Is.EqualTo(warehouse.MessageId));
        Assert.That(first.GetProperty("eventId").GetString(), Is.EqualTo("evt_1POISONW"));
        Assert.That(first.GetProperty("deliveryId").GetString(), Is.EqualTo(warehouse.DeliveryId));
        Assert.That(first.GetProperty("sourceQueue").GetString(), Is.EqualTo(Topology.TargetQueue("warehouse")));
        Assert.That(first.GetProperty("deathReason").GetString(), Is.EqualTo("delivery_limit"));
        Assert.That(first.GetProperty("deathCount").GetInt64(), Is.EqualTo(1));
        Assert.That(first.GetProperty("deadLetteredAt").ValueKind, Is.EqualTo(JsonValueKind.String), "x-death time");
        var second = poison.GetProperty("messages")[1];
        Assert.That(second.GetProperty("messageId").GetString(), Is.EqualTo(intakeMessageId));
        Assert.That(second.GetProperty("eventId").GetString(), Is.EqualTo("evt_1POISONI"), "read from the raw intake body");
        Assert.That(second.GetProperty("sourceQueue").GetString(), Is.EqualTo(Topology.IntakeQueue));
        Assert.That(
            document.RootElement.GetProperty("targets").EnumerateArray().Select(t => t.GetProperty("target").GetString()),
            Is.EqualTo(CliHarness.Targets), "targets[] holds the targets only");

        var left = await _node.DrainAsync(_vhost, Topology.PoisonQueue);
        Assert.That(left.Select(m => m.BasicProperties.MessageId), Is.EqualTo(new[] { warehouse.MessageId, intakeMessageId }), "in place, in order");
    }

    [Test]
    public async Task List_of_one_target_shows_only_the_poison_messages_from_its_queue()
    {
        var warehouse = new DeadLetterSpec("warehouse", "evt_1ONLYW");
        var dropship = new DeadLetterSpec("dropship", "evt_1ONLYD");
        await PoisonSeed.PoisonAsync(
            _node, _vhost, PoisonSeed.Delivery(dropship), PoisonSeed.Intake("evt_1ONLYI", Guid.NewGuid().ToString()), PoisonSeed.Delivery(warehouse));
        var configuration = CliHarness.Configuration(_node.AmqpUri(_vhost), CliHarness.Targets);

        var table = await CliHarness.RunAsync(configuration, "dead-letters", "list", "--target", "warehouse");
        await WaitForPoisonAsync(3);
        var json = await CliHarness.RunAsync(configuration, "dead-letters", "list", "--target", "archive", "--json");
        await WaitForPoisonAsync(3);

        Assert.That(table.ExitCode, Is.Zero, table.ToString());
        Assert.That(table.Output, Does.Contain("poison: 1 message in syncworker.poison from syncworker.target.warehouse"));
        Assert.That(table.Output, Does.Contain("evt_1ONLYW"));
        Assert.That(table.Output, Does.Not.Contain("evt_1ONLYD").And.Not.Contain("evt_1ONLYI"));

        Assert.That(json.ExitCode, Is.Zero, json.ToString());
        using var document = JsonDocument.Parse(json.Output);
        var poison = document.RootElement.GetProperty("poison");
        Assert.That(poison.GetProperty("from").GetString(), Is.EqualTo(Topology.TargetQueue("archive")));
        Assert.That(poison.GetProperty("count").GetInt32(), Is.Zero);
        Assert.That(poison.GetProperty("messages").GetArrayLength(), Is.Zero);
    }

    [Test]
    public async Task Without_the_poison_queue_list_says_not_configured_and_replay_and_status_work_as_before()
    {
        await DeadLetterSeed.SeedAsync(_node, _vhost, [new DeadLetterSpec("warehouse", "evt_1PLAIN")]);
        var configuration = CliHarness.Configuration(_node.AmqpUri(_vhost), CliHarness.Targets);

        var list = await CliHarness.RunAsync(configuration, "dead-letters", "list");
        var listJson = await CliHarness.RunAsync(configuration, "dead-letters", "list", "--json");
        var status = await CliHarness.RunAsync(configuration, "status");
        var statusJson = await CliHarness.RunAsync(configuration, "status", "--json");
        var replay = await CliHarness.RunAsync(configuration, "dead-letters", "replay", "--all", "--json");

        Assert.That(list.ExitCode, Is.Zero, list.ToString());
        Assert.That(list.Output, Does.Contain("poison: not configured (syncworker.poison does not exist"));
        using (var document = JsonDocument.Parse(listJson.Output))
        {
            Assert.That(document.RootElement.GetProperty("poison").GetProperty("queueExists").GetBoolean(), Is.False);
            Assert.That(document.RootElement.GetProperty("poison").GetProperty("count").GetInt32(), Is.Zero);
        }

        Assert.That(status.ExitCode, Is.Zero, status.ToString());
        Assert.That(status.Output, Does.Not.Contain("Poison"), "not shown when the queue does not exist");
        using (var document = JsonDocument.Parse(statusJson.Output))
        {
            Assert.That(document.RootElement.GetProperty("poison").GetProperty("exists").GetBoolean(), Is.False);
        }

        Assert.That(replay.ExitCode, Is.Zero, replay.ToString());
        using (var document = JsonDocument.Parse(replay.Output))
        {
            Assert.That(document.RootElement.GetProperty("moved").GetInt32(), Is.EqualTo(1));
            Assert.That(document.RootElement.GetProperty("poison").GetProperty("queueExists").GetBoolean(), Is.False);
        }
    }

    [Test]
    public async Task Replay_all_moves_each_poison_message_back_to_the_queue_it_came_from()
    {
        var warehouse = new DeadLetterSpec("warehouse", "evt_1BACKW");
        var intakeMessageId = Guid.NewGuid().ToString();
        await PoisonSeed.PoisonAsync(_node, _vhost, PoisonSeed.Delivery(warehouse), PoisonSeed.Intake("evt_1BACKI", intakeMessageId));
        var poisoned = await PeekPoisonAsync();
        Assert.That(poisoned.Headers!.ContainsKey("x-death"), Is.True, "RabbitMQ set x-death");
        await WaitForPoisonAsync(2);
        var before = DateTimeOffset.UtcNow;

        var run = await CliHarness.RunAsync(
            CliHarness.Configuration(_node.AmqpUri(_vhost), CliHarness.Targets), "dead-letters", "replay", "--all", "--json");

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        using var summary = JsonDocument.Parse(run.Output);
        Assert.That(summary.RootElement.GetProperty("moved").GetInt32(), Is.EqualTo(2));
        var poison = summary.RootElement.GetProperty("poison");
        Assert.That(poison.GetProperty("deadLettersAtStart").GetInt32(), Is.EqualTo(2));
        Assert.That(poison.GetProperty("moved").GetInt32(), Is.EqualTo(2));
        Assert.That(
            poison.GetProperty("movedDeliveries").EnumerateArray().Select(d => d.GetProperty("queue").GetString()),
            Is.EquivalentTo(new[] { Topology.TargetQueue("warehouse"), Topology.IntakeQueue }));

        Assert.That(await _node.MessageCountAsync(_vhost, Topology.PoisonQueue), Is.Zero, "acknowledged once moved");
        var backInWarehouse = await _node.DrainAsync(_vhost, Topology.TargetQueue("warehouse"));
        var backInIntake = await _node.DrainAsync(_vhost, Topology.IntakeQueue);
        Assert.That(backInWarehouse.Select(m => m.BasicProperties.MessageId), Is.EqualTo(new[] { warehouse.MessageId }));
        Assert.That(backInIntake.Select(m => m.BasicProperties.MessageId), Is.EqualTo(new[] { intakeMessageId }));

        var moved = backInWarehouse[0];
        var headers = moved.BasicProperties.Headers!;
        Assert.Multiple(() =>
        {
            Assert.That(moved.Body.ToArray(), Is.EqualTo(warehouse.Body()), "same body, byte for byte");
            Assert.That(moved.BasicProperties.DeliveryMode, Is.EqualTo(DeliveryModes.Persistent));
            // (x-delivery-count is the quorum queue's own, set again on every delivery.)
            Assert.That(
                headers.Keys.Where(k => k.StartsWith("x-death", StringComparison.Ordinal) || k.StartsWith("x-first-death-", StringComparison.Ordinal)
                    || k.StartsWith("x-last-death-", StringComparison.Ordinal)),
                Is.Empty,
                "the broker's death record does not travel with the replay");
            var replayedAt = DateTimeOffset.Parse(DeadLetterSeed.Text(headers[DeliveryHeaders.ReplayedAt]), CultureInfo.InvariantCulture);
            Assert.That(replayedAt, Is.InRange(before.AddSeconds(-1), DateTimeOffset.UtcNow.AddSeconds(1)));
            Assert.That(DeadLetterSeed.Text(backInIntake[0].BasicProperties.Headers!["Stripe-Event-Id"]), Is.EqualTo("evt_1BACKI"));
        });
    }

    [Test]
    public async Task Replay_of_one_target_or_one_event_moves_only_the_poison_messages_that_match()
    {
        var warehouse = new DeadLetterSpec("warehouse", "evt_1MATCHW");
        var dropship = new DeadLetterSpec("dropship", "evt_1MATCHD");
        var intakeMessageId = Guid.NewGuid().ToString();
        await PoisonSeed.PoisonAsync(
            _node, _vhost, PoisonSeed.Delivery(warehouse), PoisonSeed.Intake("evt_1MATCHI", intakeMessageId), PoisonSeed.Delivery(dropship));
        var configuration = CliHarness.Configuration(_node.AmqpUri(_vhost), CliHarness.Targets);

        var byTarget = await CliHarness.RunAsync(configuration, "dead-letters", "replay", "--all", "--target", "dropship");
        await WaitForPoisonAsync(2);
        var intakeWithTarget = await CliHarness.RunAsync(configuration, "dead-letters", "replay", "--event", "evt_1MATCHI", "--target", "warehouse");
        await WaitForPoisonAsync(2);
        var byEvent = await CliHarness.RunAsync(configuration, "dead-letters", "replay", "--event", "evt_1MATCHI");
        await WaitForPoisonAsync(1);

        Assert.That(byTarget.ExitCode, Is.Zero, byTarget.ToString());
        Assert.That(byTarget.Output, Does.Contain("Moved 1 dead letter back"));
        Assert.That(Row(byTarget.Output.Split('\n'), "poison (syncworker.poison)"), Does.Match(@"│\s*3\s*│\s*3\s*│\s*1\s*│\s*2\s*│"));
        Assert.That(
            (await _node.DrainAsync(_vhost, Topology.TargetQueue("dropship"))).Select(m => m.BasicProperties.MessageId),
            Is.EqualTo(new[] { dropship.MessageId }));

        Assert.That(intakeWithTarget.ExitCode, Is.Zero, intakeWithTarget.ToString());
        Assert.That(intakeWithTarget.Output, Does.Contain("No dead letter of evt_1MATCHI was found"), "intake's are not a target's");

        Assert.That(byEvent.ExitCode, Is.Zero, byEvent.ToString());
        Assert.That(byEvent.Output, Does.Contain("Moved 1 dead letter back"));
        Assert.That(
            (await _node.DrainAsync(_vhost, Topology.IntakeQueue)).Select(m => m.BasicProperties.MessageId), Is.EqualTo(new[] { intakeMessageId }));
        Assert.That(await _node.MessageCountAsync(_vhost, Topology.TargetQueue("warehouse")), Is.Zero);
        var left = await _node.DrainAsync(_vhost, Topology.PoisonQueue);
        Assert.That(left.Select(m => m.BasicProperties.MessageId), Is.EqualTo(new[] { warehouse.MessageId }), "the rest stays, in place");
    }

    [Test]
    public async Task Replay_to_a_source_queue_that_is_gone_fails_and_keeps_the_poison_message()
    {
        var warehouse = new DeadLetterSpec("warehouse", "evt_1GONEW");
        await PoisonSeed.PoisonAsync(_node, _vhost, PoisonSeed.Delivery(warehouse));
        await using (var connection = await _node.ConnectAsync(_vhost))
        await using (var channel = await connection.CreateChannelAsync())
        {
            await channel.QueueDeleteAsync(Topology.TargetQueue("warehouse"));
            await channel.QueueDeleteAsync(Topology.TargetErrorQueue("warehouse"));
        }

        var run = await CliHarness.RunAsync(
            CliHarness.Configuration(_node.AmqpUri(_vhost), CliHarness.Targets), "dead-letters", "replay", "--all");

        Assert.That(run.ExitCode, Is.EqualTo(1), run.ToString());
        await WaitForPoisonAsync(1);
        Assert.That(run.Error, Does.Contain(
            $"RabbitMQ returned the replayed delivery {warehouse.DeliveryId} for syncworker.target.warehouse; it stays in syncworker.poison."));
        var left = await _node.DrainAsync(_vhost, Topology.PoisonQueue);
        Assert.That(left.Select(m => m.BasicProperties.MessageId), Is.EqualTo(new[] { warehouse.MessageId }));
        Assert.That(left[0].BasicProperties.Headers!.ContainsKey("x-death"), Is.True, "untouched");
    }

    [Test]
    public async Task Status_shows_the_poison_queue_depth()
    {
        await PoisonSeed.PoisonAsync(
            _node, _vhost, PoisonSeed.Delivery(new DeadLetterSpec("warehouse", "evt_1STATW")), PoisonSeed.Intake("evt_1STATI", Guid.NewGuid().ToString()));
        var configuration = CliHarness.Configuration(_node.AmqpUri(_vhost), CliHarness.Targets);

        var table = await CliHarness.RunAsync(configuration, "status");
        var json = await CliHarness.RunAsync(configuration, "status", "--json");

        Assert.That(table.ExitCode, Is.Zero, table.ToString());
        Assert.That(Row(table.Output.Split('\n'), "Poison"), Does.Match(@"Poison \(syncworker\.poison\)\s*│\s*2\s*│"));
        Assert.That(json.ExitCode, Is.Zero, json.ToString());
        using var document = JsonDocument.Parse(json.Output);
        var poison = document.RootElement.GetProperty("poison");
        Assert.That(poison.GetProperty("queue").GetString(), Is.EqualTo(Topology.PoisonQueue));
        Assert.That(poison.GetProperty("exists").GetBoolean(), Is.True);
        Assert.That(poison.GetProperty("ready").GetInt32(), Is.EqualTo(2));
    }

    /// <summary>
    /// Waits until <c>syncworker.poison</c> holds <paramref name="count"/> ready messages. A quorum queue takes back the
    /// messages a closed channel held (a list, a replay's unmatched ones) a moment after the close, so a run that follows
    /// at once could miss some.
    /// </summary>
    private async Task WaitForPoisonAsync(uint count)
    {
        var back = await Eventually.TrueAsync(
            async () => await _node.MessageCountAsync(_vhost, Topology.PoisonQueue) == count, TimeSpan.FromSeconds(30));
        Assert.That(back, Is.True, $"{Topology.PoisonQueue} holds {count} ready messages again");
    }

    private async Task<IReadOnlyBasicProperties> PeekPoisonAsync()
    {
        await using var connection = await _node.ConnectAsync(_vhost);
        await using var channel = await connection.CreateChannelAsync();
        var message = await channel.BasicGetAsync(Topology.PoisonQueue, autoAck: false)
            ?? throw new AssertionException("syncworker.poison is empty");
        await channel.BasicNackAsync(message.DeliveryTag, multiple: false, requeue: true);
        return message.BasicProperties;
    }

    private static string Row(string[] lines, string start) =>
        lines.FirstOrDefault(line => line.TrimStart('│', ' ').StartsWith(start, StringComparison.Ordinal))
        ?? throw new AssertionException($"No line starts with '{start}':\n{string.Join('\n', lines)}");
}

using System.Globalization;
using System.Text.Json;
using RabbitMQ.Client;
using SyncWorker.Contracts;
using SyncWorker.Testing;

namespace SyncWorker.Operations.Tests;

[TestFixture]
public sealed class DeadLetterReplayTests
{
    private static readonly string[] FailureHeaders =
    [
        DeliveryHeaders.FailureReason,
        DeliveryHeaders.FailureStatus,
        DeliveryHeaders.FailureAttempts,
        DeliveryHeaders.FailurePermanent,
        DeliveryHeaders.FailedAt,
        DeliveryHeaders.RedeliveryCount,
        "MT-Reason",
        "MT-Fault-ExceptionType",
        "MT-Fault-Message",
        "MT-Fault-Timestamp",
        "MT-Fault-StackTrace",
    ];

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
    public async Task Replay_of_an_event_moves_only_its_deliveries_without_failure_headers()
    {
        var paid = new DeadLetterSpec("warehouse", "evt_1TARGET");
        var other = new DeadLetterSpec("warehouse", "evt_1OTHER");
        var raw = new DeadLetterSpec("warehouse", "evt_1TARGET", Action: "checkout.session.completed");
        var later = new DeadLetterSpec("warehouse", "evt_1LATER");
        var dropship = new DeadLetterSpec("dropship", "evt_1TARGET");
        var dropshipOther = new DeadLetterSpec("dropship", "evt_1OTHER");
        DeadLetterSpec[] seeded = [paid, other, raw, later, dropship, dropshipOther];
        await DeadLetterSeed.SeedAsync(_node, _vhost, seeded);
        var before = DateTimeOffset.UtcNow;

        var run = await CliHarness.RunAsync(
            CliHarness.Configuration(_node.AmqpUri(_vhost), CliHarness.Targets), "dead-letters", "replay", "--event", "evt_1TARGET");

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(run.Output, Does.Contain("Moved 3 dead letters back to their target queues for delivery; left 3 in place."));

        var warehouseMoved = await _node.DrainAsync(_vhost, Topology.TargetQueue("warehouse"));
        var dropshipMoved = await _node.DrainAsync(_vhost, Topology.TargetQueue("dropship"));
        Assert.That(warehouseMoved.Select(m => m.BasicProperties.MessageId), Is.EqualTo(new[] { paid.MessageId, raw.MessageId }));
        Assert.That(dropshipMoved.Select(m => m.BasicProperties.MessageId), Is.EqualTo(new[] { dropship.MessageId }));

        var left = await _node.DrainAsync(_vhost, Topology.TargetErrorQueue("warehouse"));
        Assert.That(left.Select(m => m.BasicProperties.MessageId), Is.EqualTo(new[] { other.MessageId, later.MessageId }), "kept, in order");
        var dropshipLeft = await _node.DrainAsync(_vhost, Topology.TargetErrorQueue("dropship"));
        Assert.That(dropshipLeft.Select(m => m.BasicProperties.MessageId), Is.EqualTo(new[] { dropshipOther.MessageId }));
        Assert.That(left[0].BasicProperties.Headers!.ContainsKey(DeliveryHeaders.FailureReason), Is.True, "left untouched");

        var moved = warehouseMoved[0];
        var headers = moved.BasicProperties.Headers!;
        Assert.Multiple(() =>
        {
            foreach (var name in FailureHeaders)
            {
                Assert.That(headers.ContainsKey(name), Is.False, $"{name} is removed");
            }

            Assert.That(DeadLetterSeed.Text(headers[DeliveryHeaders.FailureHistory]), Is.EqualTo(DeadLetterSpec.History));
            Assert.That(DeadLetterSeed.Text(headers["MT-Host-MachineName"]), Is.EqualTo("forwarder-1"));
            Assert.That(headers.ContainsKey(DeliveryHeaders.ForceResend), Is.False, "a plain replay is not forced");
            Assert.That(DeadLetterSeed.Text(headers["Content-Type"]), Is.EqualTo("application/vnd.masstransit+json"));
            var replayedAt = DateTimeOffset.Parse(DeadLetterSeed.Text(headers[DeliveryHeaders.ReplayedAt]), CultureInfo.InvariantCulture);
            Assert.That(replayedAt, Is.InRange(before.AddSeconds(-1), DateTimeOffset.UtcNow.AddSeconds(1)));
            Assert.That(replayedAt.Offset, Is.EqualTo(TimeSpan.Zero));
            Assert.That(moved.Body.ToArray(), Is.EqualTo(paid.Body()), "same body, byte for byte");
            Assert.That(moved.BasicProperties.ContentType, Is.EqualTo("application/vnd.masstransit+json"));
            Assert.That(moved.BasicProperties.DeliveryMode, Is.EqualTo(DeliveryModes.Persistent));
        });

        using var body = JsonDocument.Parse(moved.Body);
        Assert.That(body.RootElement.GetProperty("messageId").GetString(), Is.EqualTo(paid.MessageId), "same body");
        Assert.That(body.RootElement.GetProperty("message").GetProperty("deliveryId").GetString(), Is.EqualTo(paid.DeliveryId));
    }

    [Test]
    public async Task Replay_of_an_account_moves_only_that_merchants_dead_letters_across_targets()
    {
        var gone = new DeadLetterSpec("warehouse", "evt_1GONE1", Account: "acct_1QxUninstalled01");
        var kept = new DeadLetterSpec("warehouse", "evt_1KEPT1");
        var goneDropship = new DeadLetterSpec("dropship", "evt_1GONE2", Account: "acct_1QxUninstalled01");
        await DeadLetterSeed.SeedAsync(_node, _vhost, [gone, kept, goneDropship]);

        var run = await CliHarness.RunAsync(
            CliHarness.Configuration(_node.AmqpUri(_vhost), CliHarness.Targets), "dead-letters", "replay", "--account", "acct_1QxUninstalled01");

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(run.Output, Does.Contain("Moved 2 dead letters back to their target queues for delivery; left 1 in place."));
        Assert.That((await _node.DrainAsync(_vhost, Topology.TargetQueue("warehouse"))).Select(m => m.BasicProperties.MessageId), Is.EqualTo(new[] { gone.MessageId }));
        Assert.That((await _node.DrainAsync(_vhost, Topology.TargetQueue("dropship"))).Select(m => m.BasicProperties.MessageId), Is.EqualTo(new[] { goneDropship.MessageId }));
        Assert.That((await _node.DrainAsync(_vhost, Topology.TargetErrorQueue("warehouse"))).Select(m => m.BasicProperties.MessageId), Is.EqualTo(new[] { kept.MessageId }));

        var bad = await CliHarness.RunAsync(
            CliHarness.Configuration(_node.AmqpUri(_vhost), CliHarness.Targets), "dead-letters", "replay", "--account", "merchant-7");
        Assert.That(bad.ExitCode, Is.EqualTo(2), bad.ToString());
        Assert.That(bad.Error, Does.Contain("--account takes a Stripe account id (acct_…)"));
    }

    [Test]
    public async Task Replay_moves_a_raw_json_dead_letter_back_as_raw_json_with_its_message_type()
    {
        var raw = new DeadLetterSpec("warehouse", "evt_1RAWREPLAY", RawJson: true);
        await DeadLetterSeed.SeedAsync(_node, _vhost, [raw]);

        var run = await CliHarness.RunAsync(
            CliHarness.Configuration(_node.AmqpUri(_vhost), CliHarness.Targets), "dead-letters", "replay", "--event", "evt_1RAWREPLAY");

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(run.Output, Does.Contain("Moved 1 dead letter"));
        var moved = (await _node.DrainAsync(_vhost, Topology.TargetQueue("warehouse"))).Single();
        var headers = moved.BasicProperties.Headers!;
        Assert.Multiple(() =>
        {
            Assert.That(moved.Body.ToArray(), Is.EqualTo(raw.Body()), "same body, byte for byte");
            Assert.That(moved.BasicProperties.MessageId, Is.EqualTo(raw.MessageId));
            Assert.That(moved.BasicProperties.ContentType, Is.EqualTo("application/json"), "still raw JSON, which the target endpoint reads");
            Assert.That(DeadLetterSeed.Text(headers["MT-MessageType"]), Is.EqualTo("urn:message:SyncWorker.Contracts:FulfillmentDelivery"));
            Assert.That(headers.ContainsKey(DeliveryHeaders.FailureReason), Is.False, "failure headers removed");
        });
        Assert.That(await _node.MessageCountAsync(_vhost, Topology.TargetErrorQueue("warehouse")), Is.Zero);
    }

    [Test]
    public async Task A_dead_letter_in_the_header_format_is_listed_with_its_fields_and_replayed_byte_for_byte()
    {
        var deadLetter = new DeadLetterSpec("warehouse", "evt_1HEADERFORMAT", Action: "checkout.session.completed", HeaderFormat: true);
        await DeadLetterSeed.SeedAsync(_node, _vhost, [deadLetter]);
        var configuration = CliHarness.Configuration(_node.AmqpUri(_vhost), CliHarness.Targets);

        var list = await CliHarness.RunAsync(configuration, "dead-letters", "list", "--target", "warehouse", "--json");
        var replay = await CliHarness.RunAsync(configuration, "dead-letters", "replay", "--event", "evt_1HEADERFORMAT");

        Assert.That(list.ExitCode, Is.Zero, list.ToString());
        using (var listed = System.Text.Json.JsonDocument.Parse(list.Output))
        {
            var entry = listed.RootElement.GetProperty("targets")[0].GetProperty("deadLetters").EnumerateArray().Single();
            Assert.That(entry.GetProperty("eventId").GetString(), Is.EqualTo("evt_1HEADERFORMAT"));
            Assert.That(entry.GetProperty("action").GetString(), Is.EqualTo("checkout.session.completed"));
            Assert.That(entry.GetProperty("deliveryId").GetString(), Is.EqualTo(deadLetter.DeliveryId));
            Assert.That(entry.GetProperty("account").GetString(), Is.EqualTo(deadLetter.Account));
        }

        Assert.That(replay.ExitCode, Is.Zero, replay.ToString());
        var moved = (await _node.DrainAsync(_vhost, Topology.TargetQueue("warehouse"))).Single();
        Assert.Multiple(() =>
        {
            Assert.That(moved.Body.ToArray(), Is.EqualTo(deadLetter.Body()), "same body, byte for byte");
            Assert.That(moved.BasicProperties.ContentType, Is.EqualTo("application/vnd.syncworker.delivery+json"));
            Assert.That(DeadLetterSeed.Text(moved.BasicProperties.Headers!["SyncWorker-Delivery"]), Does.Contain(deadLetter.DeliveryId));
            Assert.That(moved.BasicProperties.Headers!.ContainsKey(DeliveryHeaders.FailureReason), Is.False, "failure headers removed");
        });
    }

    [Test]
    public async Task Replay_with_force_marks_the_moved_deliveries_to_be_sent_even_if_delivered_and_says_so()
    {
        var deadLetter = new DeadLetterSpec("warehouse", "evt_1FORCED", HeaderFormat: true);
        await DeadLetterSeed.SeedAsync(_node, _vhost, [deadLetter]);

        var run = await CliHarness.RunAsync(
            CliHarness.Configuration(_node.AmqpUri(_vhost), CliHarness.Targets), "dead-letters", "replay", "--event", "evt_1FORCED", "--force");

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(run.Output, Does.Contain("--force").And.Contain("same webhook-id"), "the replay says what forcing means");
        var moved = (await _node.DrainAsync(_vhost, Topology.TargetQueue("warehouse"))).Single();
        Assert.That(DeadLetterSeed.Text(moved.BasicProperties.Headers![DeliveryHeaders.ForceResend]), Is.EqualTo("true"));
        Assert.That(moved.Body.ToArray(), Is.EqualTo(deadLetter.Body()), "same body, byte for byte");
    }

    [Test]
    public async Task Replay_all_of_one_target_moves_every_dead_letter_and_reports_progress()
    {
        var warehouse = Enumerable.Range(0, 150).Select(i => new DeadLetterSpec("warehouse", $"evt_1W{i:D4}")).ToList();
        var dropship = new[] { new DeadLetterSpec("dropship", "evt_1D0001"), new DeadLetterSpec("dropship", "evt_1D0002") };
        await DeadLetterSeed.SeedAsync(_node, _vhost, [.. warehouse, .. dropship]);

        var run = await CliHarness.RunAsync(
            CliHarness.Configuration(_node.AmqpUri(_vhost), CliHarness.Targets), "dead-letters", "replay", "--all", "--target", "warehouse");

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(run.Output, Does.Contain("warehouse: 100 of 150 examined, 100 moved"));
        Assert.That(run.Output, Does.Contain("Moved 150 dead letters back to their target queues for delivery; left 0 in place."));
        Assert.That(await _node.MessageCountAsync(_vhost, Topology.TargetErrorQueue("warehouse")), Is.Zero);
        var moved = await _node.DrainAsync(_vhost, Topology.TargetQueue("warehouse"));
        Assert.That(moved.Select(m => m.BasicProperties.MessageId), Is.EqualTo(warehouse.Select(w => w.MessageId)), "all, in order");
        Assert.That(await _node.MessageCountAsync(_vhost, Topology.TargetErrorQueue("dropship")), Is.EqualTo(2), "other targets untouched");
        Assert.That(await _node.MessageCountAsync(_vhost, Topology.TargetQueue("dropship")), Is.Zero);
    }

    [Test]
    public async Task Replay_on_an_interactive_console_shows_a_progress_bar_instead_of_lines()
    {
        var seeded = Enumerable.Range(0, 120).Select(i => new DeadLetterSpec("warehouse", $"evt_1P{i:D4}")).ToList();
        await DeadLetterSeed.SeedAsync(_node, _vhost, seeded);
        using var output = new StringWriter();
        using var error = new StringWriter();

        var exit = await OperationsCli.RunAsync(
            ["dead-letters", "replay", "--all"],
            CliHarness.Configuration(_node.AmqpUri(_vhost), CliHarness.Targets),
            CliHarness.Console(output, interactive: true),
            error,
            TimeProvider.System,
            CancellationToken.None);

        Assert.That(exit, Is.Zero, output + error.ToString());
        Assert.That(output.ToString(), Does.Contain("100%"));
        Assert.That(output.ToString(), Does.Not.Contain("100 of 120 examined"), "no progress lines");
        Assert.That(output.ToString(), Does.Contain("Moved 120 dead letters"));
        Assert.That(await _node.MessageCountAsync(_vhost, Topology.TargetQueue("warehouse")), Is.EqualTo(120));
    }

    [Test]
    public async Task Concurrent_replays_move_each_dead_letter_exactly_once()
    {
        const int Count = 500;
        var seeded = Enumerable.Range(0, Count).Select(i => new DeadLetterSpec("warehouse", $"evt_1C{i:D4}")).ToList();
        await DeadLetterSeed.SeedAsync(_node, _vhost, seeded);
        var configuration = CliHarness.Configuration(_node.AmqpUri(_vhost), CliHarness.Targets);

        var runs = await Task.WhenAll(
            Task.Run(() => CliHarness.RunAsync(configuration, "dead-letters", "replay", "--all", "--target", "warehouse", "--json")),
            Task.Run(() => CliHarness.RunAsync(configuration, "dead-letters", "replay", "--all", "--target", "warehouse", "--json")));

        var moved = 0;
        foreach (var run in runs)
        {
            Assert.That(run.ExitCode, Is.Zero, run.ToString());
            using var summary = JsonDocument.Parse(run.Output);
            moved += summary.RootElement.GetProperty("moved").GetInt32();
        }

        Assert.That(moved, Is.EqualTo(Count), "the two summaries add up to what was seeded");
        Assert.That(await _node.MessageCountAsync(_vhost, Topology.TargetErrorQueue("warehouse")), Is.Zero);
        var delivered = await _node.DrainAsync(_vhost, Topology.TargetQueue("warehouse"));
        Assert.That(delivered, Has.Count.EqualTo(Count));
        Assert.That(
            delivered.Select(m => m.BasicProperties.MessageId).Distinct().Count(), Is.EqualTo(Count), "no message id twice");
        Assert.That(
            delivered.Select(m => m.BasicProperties.MessageId), Is.EquivalentTo(seeded.Select(s => s.MessageId)));
    }

    [Test]
    public async Task Replay_exits_1_with_counts_when_dead_letters_it_set_out_to_move_are_still_there()
    {
        var seeded = Enumerable.Range(0, 6).Select(i => new DeadLetterSpec("warehouse", $"evt_1H{i:D4}")).ToList();
        await DeadLetterSeed.SeedAsync(_node, _vhost, seeded);
        var errorQueue = Topology.TargetErrorQueue("warehouse");

        // A concurrent 'dead-letters list' as the verbs see one: a consumer of syncworker.operations.readers while it holds
        // the first three dead letters (unacknowledged, so hidden from the replay).
        await using var lister = await _node.ConnectAsync(_vhost);
        var presence = await lister.CreateChannelAsync();
        await presence.QueueDeclareAsync(
            "syncworker.operations.readers", durable: false, exclusive: false, autoDelete: false,
            new Dictionary<string, object?> { ["x-queue-type"] = "classic", ["x-max-length"] = 0 });
        await presence.BasicConsumeAsync("syncworker.operations.readers", autoAck: true, new RabbitMQ.Client.Events.AsyncEventingBasicConsumer(presence));
        var holder = await lister.CreateChannelAsync();
        for (var i = 0; i < 3; i++)
        {
            Assert.That(await holder.BasicGetAsync(errorQueue, autoAck: false), Is.Not.Null);
        }

        var replay = Task.Run(() => CliHarness.RunAsync(
            CliHarness.Configuration(_node.AmqpUri(_vhost), CliHarness.Targets), "dead-letters", "replay", "--target", "warehouse", "--all"));

        // The list ends once the replay has moved what it could see: the three it held are back in the error queue.
        Assert.That(
            await Eventually.TrueAsync(async () => await _node.MessageCountAsync(_vhost, Topology.TargetQueue("warehouse")) == 3, TimeSpan.FromSeconds(30)),
            Is.True);
        await holder.CloseAsync();
        await presence.CloseAsync();

        var run = await replay;
        Assert.That(run.ExitCode, Is.EqualTo(1), run.ToString());
        Assert.That(run.Error, Does.Contain(
            "3 dead letters this replay set out to move are still in place (3 in syncworker.target.warehouse_error); moved 3."));
        Assert.That(run.Error, Does.Contain("Run the replay again"));
        var row = run.Output.Split('\n').Single(line => line.Contains("│ warehouse ", StringComparison.Ordinal));
        Assert.That(
            row.Split('│', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)[1..],
            Is.EqualTo(new[] { "3", "3", "3", "0", "3" }),
            "at start, examined, moved, left in place, still to move");
        Assert.That(await _node.MessageCountAsync(_vhost, errorQueue), Is.EqualTo(3));

        var again = await CliHarness.RunAsync(
            CliHarness.Configuration(_node.AmqpUri(_vhost), CliHarness.Targets), "dead-letters", "replay", "--target", "warehouse", "--all");
        Assert.That(again.ExitCode, Is.Zero, again.ToString());
        Assert.That(await _node.MessageCountAsync(_vhost, errorQueue), Is.Zero);
        Assert.That(await _node.MessageCountAsync(_vhost, Topology.TargetQueue("warehouse")), Is.EqualTo(6));
    }

    [Test]
    public async Task Replay_json_lists_the_moved_deliveries()
    {
        var one = new DeadLetterSpec("warehouse", "evt_1JSON");
        await DeadLetterSeed.SeedAsync(_node, _vhost, [one, new DeadLetterSpec("warehouse", "evt_1KEEP")]);

        var run = await CliHarness.RunAsync(
            CliHarness.Configuration(_node.AmqpUri(_vhost), CliHarness.Targets), "dead-letters", "replay", "--event", "evt_1JSON", "--json");

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        using var summary = JsonDocument.Parse(run.Output);
        var root = summary.RootElement;
        Assert.That(root.GetProperty("event").GetString(), Is.EqualTo("evt_1JSON"));
        Assert.That(root.GetProperty("moved").GetInt32(), Is.EqualTo(1));
        Assert.That(root.GetProperty("skipped").GetInt32(), Is.EqualTo(1));
        Assert.That(root.GetProperty("error").ValueKind, Is.EqualTo(JsonValueKind.Null));
        var warehouse = root.GetProperty("targets").EnumerateArray().Single(t => t.GetProperty("target").GetString() == "warehouse");
        Assert.That(warehouse.GetProperty("deadLettersAtStart").GetInt32(), Is.EqualTo(2));
        var delivery = warehouse.GetProperty("movedDeliveries").EnumerateArray().Single();
        Assert.That(delivery.GetProperty("deliveryId").GetString(), Is.EqualTo(one.DeliveryId));
        Assert.That(delivery.GetProperty("messageId").GetString(), Is.EqualTo(one.MessageId));
    }

    [Test]
    public async Task Replay_to_a_target_whose_queue_does_not_exist_fails_and_keeps_the_dead_letters()
    {
        await DeadLetterSeed.SeedAsync(_node, _vhost, [new DeadLetterSpec("warehouse", "evt_1LOST")], declareTargetQueues: false);

        var run = await CliHarness.RunAsync(
            CliHarness.Configuration(_node.AmqpUri(_vhost), CliHarness.Targets), "dead-letters", "replay", "--all");

        Assert.That(run.ExitCode, Is.EqualTo(1), run.ToString());
        Assert.That(run.Error, Does.Contain("syncworker.target.warehouse of target 'warehouse' does not exist"));
        Assert.That(await _node.MessageCountAsync(_vhost, Topology.TargetErrorQueue("warehouse")), Is.EqualTo(1));
    }

    [Test]
    public async Task Replay_of_an_event_that_is_not_there_moves_nothing_and_says_so()
    {
        var kept = new DeadLetterSpec("warehouse", "evt_1HERE");
        await DeadLetterSeed.SeedAsync(_node, _vhost, [kept]);

        var run = await CliHarness.RunAsync(
            CliHarness.Configuration(_node.AmqpUri(_vhost), CliHarness.Targets), "dead-letters", "replay", "--event", "evt_1GONE");

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(run.Output, Does.Contain("No dead letter of evt_1GONE was found"));
        var left = await _node.DrainAsync(_vhost, Topology.TargetErrorQueue("warehouse"));
        Assert.That(left.Select(m => m.BasicProperties.MessageId), Is.EqualTo(new[] { kept.MessageId }));
    }

    private static DeadLetterSpec FailedAt(string target, string eventId, int hour, int minute = 0, bool onlyMassTransit = false) =>
        new(target, eventId, FailedAt: new DateTimeOffset(2025, 11, 20, hour, minute, 0, TimeSpan.Zero), OnlyMassTransitTimestamp: onlyMassTransit);

    [Test]
    public async Task Replay_of_a_time_range_moves_only_what_was_dead_lettered_in_it_and_leaves_the_rest_in_order()
    {
        var before = FailedAt("warehouse", "evt_1RANGE_A", 9);
        var atStart = FailedAt("warehouse", "evt_1RANGE_B", 9, 30, onlyMassTransit: true);
        var inside = FailedAt("warehouse", "evt_1RANGE_C", 11);
        var atEnd = FailedAt("warehouse", "evt_1RANGE_D", 11, 30);
        var after = FailedAt("warehouse", "evt_1RANGE_E", 12);
        var otherTarget = FailedAt("dropship", "evt_1RANGE_F", 10);
        await DeadLetterSeed.SeedAsync(_node, _vhost, [before, atStart, inside, atEnd, after, otherTarget]);

        var run = await CliHarness.RunAsync(
            CliHarness.Configuration(_node.AmqpUri(_vhost), CliHarness.Targets),
            "dead-letters", "replay", "--target", "warehouse", "--since", "2025-11-20T09:30:00Z", "--until", "2025-11-20T11:30:00Z", "--json");

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        using var document = JsonDocument.Parse(run.Output);
        Assert.That(document.RootElement.GetProperty("since").GetDateTimeOffset(), Is.EqualTo(atStart.FailedTime), "the start is inclusive");
        Assert.That(document.RootElement.GetProperty("until").GetDateTimeOffset(), Is.EqualTo(atEnd.FailedTime), "the end is exclusive");
        Assert.That(document.RootElement.GetProperty("moved").GetInt32(), Is.EqualTo(2));
        var moved = await _node.DrainAsync(_vhost, Topology.TargetQueue("warehouse"));
        Assert.That(moved.Select(m => m.BasicProperties.MessageId), Is.EqualTo(new[] { atStart.MessageId, inside.MessageId }), "MT-Fault-Timestamp counts when SyncWorker's header is missing");
        var left = await _node.DrainAsync(_vhost, Topology.TargetErrorQueue("warehouse"));
        Assert.That(left.Select(m => m.BasicProperties.MessageId), Is.EqualTo(new[] { before.MessageId, atEnd.MessageId, after.MessageId }), "kept, in order");
        Assert.That(await _node.MessageCountAsync(_vhost, Topology.TargetErrorQueue("dropship")), Is.EqualTo(1), "--target keeps other targets out");
    }

    [Test]
    public async Task Replay_since_a_relative_time_selects_by_itself_across_targets()
    {
        var old = FailedAt("warehouse", "evt_1REL_OLD", 8);
        var recent = FailedAt("warehouse", "evt_1REL_NEW", 11);
        var recentDropship = FailedAt("dropship", "evt_1REL_DROP", 11, 45);
        await DeadLetterSeed.SeedAsync(_node, _vhost, [old, recent, recentDropship]);
        var now = new FixedTime(new DateTimeOffset(2025, 11, 20, 12, 0, 0, TimeSpan.Zero));

        var run = await CliHarness.RunAsync(
            CliHarness.Configuration(_node.AmqpUri(_vhost), CliHarness.Targets), now, "dead-letters", "replay", "--since", "2h");

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(run.Output, Does.Contain("Moved 2 dead letters").And.Contain("left 1 in place (dead-lettered from 2025-11-20T10:00:00Z until now were moved)."));
        Assert.That((await _node.DrainAsync(_vhost, Topology.TargetQueue("warehouse"))).Select(m => m.BasicProperties.MessageId), Is.EqualTo(new[] { recent.MessageId }));
        Assert.That((await _node.DrainAsync(_vhost, Topology.TargetQueue("dropship"))).Select(m => m.BasicProperties.MessageId), Is.EqualTo(new[] { recentDropship.MessageId }));
        Assert.That((await _node.DrainAsync(_vhost, Topology.TargetErrorQueue("warehouse"))).Select(m => m.BasicProperties.MessageId), Is.EqualTo(new[] { old.MessageId }));
    }

    [TestCase("--since", "yesterday", "--since 'yesterday' is neither an ISO 8601 time")]
    [TestCase("--until", "0h", "--until 0h: the amount must be a whole number from 1")]
    public async Task A_bad_time_is_a_usage_error_naming_the_option(string option, string value, string expected)
    {
        var run = await CliHarness.RunAsync(
            CliHarness.Configuration(_node.AmqpUri(_vhost), CliHarness.Targets), "dead-letters", "replay", option, value);

        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        Assert.That(run.Error, Does.Contain(expected));
    }

    [Test]
    public async Task An_empty_range_is_a_usage_error()
    {
        var run = await CliHarness.RunAsync(
            CliHarness.Configuration(_node.AmqpUri(_vhost), CliHarness.Targets), "dead-letters", "replay", "--since", "1h", "--until", "2h");

        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        Assert.That(run.Error, Does.Contain("must be before --until"));
    }
}

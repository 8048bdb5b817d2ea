using System.Text.Json;
using SyncWorker.Contracts;
using SyncWorker.Testing;

namespace SyncWorker.Operations.Tests;

[TestFixture]
public sealed class DeadLetterListTests
{
    private static readonly DateTimeOffset Now = DeadLetterSpec.DefaultFailedAt.AddHours(2);

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

    private static DeadLetterSpec[] Warehouse() =>
    [
        new("warehouse", "evt_1AAA"),
        new("warehouse", "evt_1BBB", EventType: "checkout.session.async_payment_succeeded", Account: "acct_1QxOther0002",
            Reason: "Target 'warehouse' refused order cs_test_b2 (order.paid): 422 Unprocessable Entity.", Status: 422, Attempts: 1,
            Permanent: true, FailedAt: DeadLetterSpec.DefaultFailedAt.AddMinutes(30)),
        new("warehouse", "evt_1CCC", Reason: "Delivering to target 'warehouse' failed: connection refused.", Status: null,
            FailedAt: DeadLetterSpec.DefaultFailedAt.AddMinutes(-90), OnlyMassTransitTimestamp: true),
    ];

    [Test]
    public async Task List_shows_each_targets_count_and_reasons_and_leaves_the_dead_letters_in_place()
    {
        var warehouse = Warehouse();
        var dropship = new DeadLetterSpec("dropship", "evt_1DDD", Reason: "Target 'dropship' answered 500 Internal Server Error.", Status: 500);
        await DeadLetterSeed.SeedAsync(_node, _vhost, [.. warehouse, dropship]);

        var run = await CliHarness.RunAsync(
            CliHarness.Configuration(_node.AmqpUri(_vhost), CliHarness.Targets), new FixedTime(Now), "dead-letters", "list");

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(run.Output, Does.Contain("warehouse: 3 dead letters in syncworker.target.warehouse_error"));
        Assert.That(run.Output, Does.Contain("dropship: 1 dead letter in syncworker.target.dropship_error"));
        Assert.That(run.Output, Does.Contain("archive: 0 dead letters in syncworker.target.archive_error (not declared yet)"));
        foreach (var deadLetter in warehouse.Append(dropship))
        {
            Assert.That(run.Output, Does.Contain(deadLetter.Reason));
            Assert.That(run.Output, Does.Contain(deadLetter.EventId));
            Assert.That(run.Output, Does.Contain(deadLetter.DeliveryId));
        }

        Assert.That(run.Output, Does.Contain("checkout.session.async_payment_succeeded"));
        Assert.That(run.Output, Does.Contain("acct_1QxOther0002"));
        Assert.That(run.Output, Does.Contain("2025-11-20 10:00:00Z"), "failed-at");
        Assert.That(run.Output, Does.Contain("2h 0m"), "age");
        Assert.That(run.Output, Does.Contain("3h 30m"), "age from MT-Fault-Timestamp when SyncWorker-Failed-At is missing");
        Assert.That(run.Error, Is.Empty);

        await AssertInPlaceAsync("warehouse", warehouse);
        await AssertInPlaceAsync("dropship", [dropship]);
    }

    [Test]
    public async Task List_json_is_one_document_with_every_field()
    {
        var warehouse = Warehouse();
        await DeadLetterSeed.SeedAsync(_node, _vhost, warehouse);

        var run = await CliHarness.RunAsync(
            CliHarness.Configuration(_node.AmqpUri(_vhost), CliHarness.Targets),
            new FixedTime(Now),
            "dead-letters", "list", "--target", "warehouse", "--json");

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        using var document = JsonDocument.Parse(run.Output);
        var targets = document.RootElement.GetProperty("targets");
        Assert.That(targets.GetArrayLength(), Is.EqualTo(1));
        var target = targets[0];
        Assert.That(target.GetProperty("target").GetString(), Is.EqualTo("warehouse"));
        Assert.That(target.GetProperty("queue").GetString(), Is.EqualTo(Topology.TargetErrorQueue("warehouse")));
        Assert.That(target.GetProperty("count").GetInt32(), Is.EqualTo(3));
        Assert.That(target.GetProperty("listed").GetInt32(), Is.EqualTo(3));

        var letters = target.GetProperty("deadLetters");
        var first = letters[0];
        Assert.That(first.GetProperty("messageId").GetString(), Is.EqualTo(warehouse[0].MessageId));
        Assert.That(first.GetProperty("eventId").GetString(), Is.EqualTo("evt_1AAA"));
        Assert.That(first.GetProperty("eventType").GetString(), Is.EqualTo("checkout.session.completed"));
        Assert.That(first.GetProperty("account").GetString(), Is.EqualTo("acct_1QxWarehouse0001"));
        Assert.That(first.GetProperty("deliveryId").GetString(), Is.EqualTo(warehouse[0].DeliveryId));
        Assert.That(first.GetProperty("action").GetString(), Is.EqualTo("order.paid"));
        Assert.That(first.GetProperty("reason").GetString(), Is.EqualTo(warehouse[0].Reason));
        Assert.That(first.GetProperty("status").GetInt32(), Is.EqualTo(503));
        Assert.That(first.GetProperty("attempts").GetInt32(), Is.EqualTo(5));
        Assert.That(first.GetProperty("permanent").GetBoolean(), Is.False);
        Assert.That(first.GetProperty("failedAt").GetDateTimeOffset(), Is.EqualTo(DeadLetterSpec.DefaultFailedAt));
        Assert.That(first.GetProperty("ageSeconds").GetInt64(), Is.EqualTo(7200));

        var second = letters[1];
        Assert.That(second.GetProperty("status").GetInt32(), Is.EqualTo(422));
        Assert.That(second.GetProperty("permanent").GetBoolean(), Is.True);
        Assert.That(second.GetProperty("ageSeconds").GetInt64(), Is.EqualTo(5400));

        var third = letters[2];
        Assert.That(third.GetProperty("status").ValueKind, Is.EqualTo(JsonValueKind.Null));
        Assert.That(third.GetProperty("reason").GetString(), Is.EqualTo(warehouse[2].Reason), "falls back to MT-Fault-Message");
        Assert.That(third.GetProperty("failedAt").GetDateTimeOffset(), Is.EqualTo(warehouse[2].FailedTime), "falls back to MT-Fault-Timestamp");

        await AssertInPlaceAsync("warehouse", warehouse);
    }

    [Test]
    public async Task List_reads_raw_json_dead_letters_as_the_dispatcher_now_sends_them_next_to_envelope_ones()
    {
        var raw = new DeadLetterSpec("warehouse", "evt_1RAW", RawJson: true);
        var envelope = new DeadLetterSpec("warehouse", "evt_1ENVELOPE");
        await DeadLetterSeed.SeedAsync(_node, _vhost, [raw, envelope]);

        var run = await CliHarness.RunAsync(
            CliHarness.Configuration(_node.AmqpUri(_vhost), CliHarness.Targets),
            new FixedTime(Now),
            "dead-letters", "list", "--target", "warehouse", "--json");

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        using var document = JsonDocument.Parse(run.Output);
        var letters = document.RootElement.GetProperty("targets")[0].GetProperty("deadLetters");
        Assert.That(letters.GetArrayLength(), Is.EqualTo(2));
        var first = letters[0];
        Assert.Multiple(() =>
        {
            Assert.That(first.GetProperty("messageId").GetString(), Is.EqualTo(raw.MessageId), "from the AMQP message-id");
            Assert.That(first.GetProperty("eventId").GetString(), Is.EqualTo("evt_1RAW"));
            Assert.That(first.GetProperty("eventType").GetString(), Is.EqualTo("checkout.session.completed"));
            Assert.That(first.GetProperty("account").GetString(), Is.EqualTo("acct_1QxWarehouse0001"));
            Assert.That(first.GetProperty("deliveryId").GetString(), Is.EqualTo(raw.DeliveryId));
            Assert.That(first.GetProperty("action").GetString(), Is.EqualTo("order.paid"));
            Assert.That(first.GetProperty("reason").GetString(), Is.EqualTo(raw.Reason));
            Assert.That(letters[1].GetProperty("eventId").GetString(), Is.EqualTo("evt_1ENVELOPE"));
            Assert.That(letters[1].GetProperty("deliveryId").GetString(), Is.EqualTo(envelope.DeliveryId));
        });

        await AssertInPlaceAsync("warehouse", [raw, envelope]);
    }

    [Test]
    public async Task List_with_a_limit_shows_the_oldest_and_the_exact_count()
    {
        var warehouse = Warehouse();
        await DeadLetterSeed.SeedAsync(_node, _vhost, warehouse);

        var run = await CliHarness.RunAsync(
            CliHarness.Configuration(_node.AmqpUri(_vhost), CliHarness.Targets),
            new FixedTime(Now),
            "dead-letters", "list", "--target", "warehouse", "--limit", "2");

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(run.Output, Does.Contain("warehouse: 3 dead letters"));
        Assert.That(run.Output, Does.Contain("evt_1AAA").And.Contain("evt_1BBB"));
        Assert.That(run.Output, Does.Not.Contain("evt_1CCC"));
        Assert.That(run.Output, Does.Contain("Showing the first 2 of 3; pass --limit to see more."));
        Assert.That(run.Output, Does.Not.Contain("dropship"), "--target lists only that target");
        await AssertInPlaceAsync("warehouse", warehouse);
    }

    /// <summary>Same count, same order: the list took nothing away for good.</summary>
    private async Task AssertInPlaceAsync(string target, DeadLetterSpec[] seeded)
    {
        var queue = Topology.TargetErrorQueue(target);
        Assert.That(await _node.MessageCountAsync(_vhost, queue), Is.EqualTo(seeded.Length));
        var remaining = await _node.DrainAsync(_vhost, queue);
        Assert.That(remaining.Select(m => m.BasicProperties.MessageId), Is.EqualTo(seeded.Select(s => s.MessageId)));
    }
}

using System.Net;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using RabbitMQ.Client;
using SyncWorker.Contracts;
using SyncWorker.Messaging;
using SyncWorker.Store.Installs;
using SyncWorker.Store.Ledger;
using SyncWorker.Testing;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace SyncWorker.Tests.EndToEnd;

/// <summary>
/// An uninstall sweeps the merchant's dead letters: out of the target's <c>_error</c> queue and out of the poison queue
/// back to the target queue, where each ends as <c>skipped</c> (reason uninstalled) in the ledger; another merchant's
/// dead letters stay where they are. Over a real RabbitMQ node (one per class) and a WireMock.Net target.
/// </summary>
[NonParallelizable]
public sealed class UninstallSweepTests
{
    private const string Completed = "checkout.session.completed.json";

    /// <summary>The account of <see cref="Completed"/> and of <c>account.application.deauthorized.json</c> (live mode).</summary>
    private const string Leaving = "acct_1Qx7ExampleMrch01";

    private const string Staying = "acct_1Qx7ExampleStays01";
    private static readonly string SigningSecret = "whsec_" + Convert.ToBase64String(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());
    private RabbitMqNode _node = null!;
    private WireMockServer _target = null!;

    [OneTimeSetUp]
    public async Task StartBrokerAsync() => _node = await RabbitMqNode.LaunchAsync();

    [OneTimeTearDown]
    public async Task StopBrokerAsync() => await _node.DisposeAsync();

    [SetUp]
    public void StartTarget()
    {
        // Refuses every delivery for good: each is dead-lettered at its first answer.
        _target = WireMockServer.Start();
        _target.Given(Request.Create().WithPath("/fulfillment/*").UsingPost()).RespondWith(Response.Create().WithStatusCode(400));
    }

    [TearDown]
    public void StopTarget()
    {
        _target.Stop();
        _target.Dispose();
    }

    [Test]
    public async Task An_uninstall_moves_that_merchants_dead_letters_out_of_the_error_queue_to_end_as_skipped_and_leaves_the_others()
    {
        var vhost = await _node.CreateVirtualHostAsync();
        await using var worker = await StartWorkerAsync(vhost, "classic");
        var ledger = worker.Services.GetRequiredService<IDeliveryLedger>();

        var leavingEvent = StripeEvents.NewEventId();
        var stayingEvent = StripeEvents.NewEventId();
        await PostAsync(worker, StripeEvents.WithId(Completed, leavingEvent));
        await PostAsync(worker, StripeEvents.WithId(Completed, stayingEvent).Replace(Leaving, Staying, StringComparison.Ordinal));
        Assert.That(await Eventually.TrueAsync(async () => await _node.MessageCountOrZeroAsync(vhost, Topology.TargetErrorQueue("feed")) == 2, TimeSpan.FromSeconds(30)), Is.True,
            "both merchants' deliveries dead-lettered");
        Assert.That((await ledger.GetAsync($"feed/event/{leavingEvent}", CancellationToken.None))?.State, Is.EqualTo(DeliveryState.DeadLettered));

        await UninstallAsync(worker);

        Assert.That(await Eventually.TrueAsync(async () =>
            (await ledger.GetAsync($"feed/event/{leavingEvent}", CancellationToken.None))?.State == DeliveryState.Skipped, TimeSpan.FromSeconds(30)), Is.True,
            "the uninstalled merchant's dead letter was swept back and recorded as skipped");
        var skipped = await ledger.GetAsync($"feed/event/{leavingEvent}", CancellationToken.None);
        Assert.That(skipped!.LastError, Does.StartWith("uninstalled"));
        Assert.That(await _node.MessageCountOrZeroAsync(vhost, Topology.TargetErrorQueue("feed")), Is.EqualTo(1u), "the other merchant's dead letter stays");
        var left = await _node.DrainAsync(vhost, Topology.TargetErrorQueue("feed"));
        Assert.That(left, Has.Count.EqualTo(1));
        Assert.That(Encoding.UTF8.GetString(left[0].Body.Span), Does.Contain(stayingEvent));
        Assert.That((await ledger.GetAsync($"feed/event/{stayingEvent}", CancellationToken.None))?.State, Is.EqualTo(DeliveryState.DeadLettered));
        Assert.That(_target.LogEntries, Has.Count.EqualTo(2), "the swept delivery was not sent again");
    }

    [Test]
    public async Task An_uninstall_moves_that_merchants_poison_messages_back_to_their_target_queue_to_end_as_skipped()
    {
        var vhost = await _node.CreateVirtualHostAsync();
        var leavingEvent = StripeEvents.NewEventId();
        var stayingEvent = StripeEvents.NewEventId();
        // Poisoned before the worker starts (so that nothing else consumes the target queue): RabbitMQ dead-letters each
        // to syncworker.poison at its delivery limit, as the production policies make it do.
        await PoisonAsync(vhost, Delivery(leavingEvent, Leaving), Delivery(stayingEvent, Staying));

        await using var worker = await StartWorkerAsync(vhost, "quorum");
        var ledger = worker.Services.GetRequiredService<IDeliveryLedger>();
        await UninstallAsync(worker);

        Assert.That(await Eventually.TrueAsync(async () =>
            (await ledger.GetAsync($"feed/event/{leavingEvent}", CancellationToken.None))?.State == DeliveryState.Skipped, TimeSpan.FromSeconds(30)), Is.True,
            "the uninstalled merchant's poison message was swept back to its target queue and recorded as skipped");
        Assert.That((await ledger.GetAsync($"feed/event/{leavingEvent}", CancellationToken.None))!.LastError, Does.StartWith("uninstalled"));
        Assert.That(await _node.MessageCountOrZeroAsync(vhost, Topology.PoisonQueue), Is.EqualTo(1u), "the other merchant's poison message stays");
        var left = await _node.DrainAsync(vhost, Topology.PoisonQueue);
        Assert.That(Encoding.UTF8.GetString(left.Single().Body.Span), Does.Contain(stayingEvent));
        Assert.That(await ledger.GetAsync($"feed/event/{stayingEvent}", CancellationToken.None), Is.Null, "not replayed");
        Assert.That(_target.LogEntries, Is.Empty, "nothing was sent");
    }

    private static async Task UninstallAsync(WorkerHost worker)
    {
        await PostAsync(worker, StripeEvents.WithId("account.application.deauthorized.json", StripeEvents.NewEventId()));
        var installs = worker.Services.GetRequiredService<IInstallRegistry>();
        Assert.That(await Eventually.TrueAsync(async () => (await installs.GetAsync(Leaving, true, CancellationToken.None))?.Status == InstallStatus.Uninstalled, TimeSpan.FromSeconds(30)), Is.True,
            "the uninstall was recorded");
    }

    private static async Task PostAsync(WorkerHost worker, string payload)
    {
        using var response = await worker.PostSignedAsync(payload);
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), "accepted");
    }

    private async Task<WorkerHost> StartWorkerAsync(string vhost, string queueType)
    {
        var settings = new Dictionary<string, string?>
        {
            ["RabbitMq:Uri"] = _node.AmqpUri(vhost).ToString(),
            ["RabbitMq:QueueType"] = queueType,
            ["Manifest:Path"] = TestManifest.WithConnectSrc(_target.Url + "/fulfillment/"),
            ["Fulfillment:Targets:0:Name"] = "feed",
            ["Fulfillment:Targets:0:Url"] = $"{_target.Url}/fulfillment/feed",
            ["Fulfillment:Targets:0:Events:0"] = "checkout.session.*",
            ["Fulfillment:Targets:0:Mode"] = "live",
            ["Fulfillment:Targets:0:Format"] = "event",
            ["Fulfillment:Targets:0:SigningSecret"] = SigningSecret,
            ["Fulfillment:Targets:0:Retry:MaxRetryAttempts"] = "0",
        };
        var worker = await WorkerHost.StartAsync(settings);
        var supervisor = worker.Services.GetRequiredService<SyncWorker.Forwarding.Hosting.TargetEndpointSupervisor>();
        if (!await Eventually.TrueAsync(() => supervisor.IsConsuming("feed"), TimeSpan.FromSeconds(60)))
        {
            await worker.DisposeAsync();
            Assert.Fail("The worker's target endpoint did not start within 60 s.");
        }

        return worker;
    }

    /// <summary>A delivery of a live-mode <c>checkout.session.completed</c> of <paramref name="account"/> to <c>feed</c>, as the dispatcher queues it.</summary>
    private static OutgoingMessage Delivery(string eventId, string account)
    {
        var payload = StripeEvents.WithId(Completed, eventId).Replace(Leaving, account, StringComparison.Ordinal);
        var now = DateTimeOffset.UtcNow;
        var evt = new StripeEventReceived(
            eventId, "checkout.session.completed", account, Livemode: true, "2025-10-29.clover", now, "checkout.session", "cs_live_poison",
            now, new JsonBytes(Encoding.UTF8.GetBytes(payload)));
        var delivery = new FulfillmentDelivery("feed", "dlv_" + eventId, "event", "checkout.session.completed", evt);
        return DeliveryMessages.Create(string.Empty, delivery, Guid.NewGuid()) with { RoutingKey = Topology.TargetQueue("feed") };
    }

    /// <summary>
    /// Declares the poison exchange and queue, and <c>feed</c>'s target queue as the worker will (quorum) with a policy of
    /// delivery limit 1 dead-lettering to <c>syncworker.poison</c>; then publishes each message there and returns it until
    /// RabbitMQ dead-letters it to the poison queue.
    /// </summary>
    private async Task PoisonAsync(string vhost, params OutgoingMessage[] messages)
    {
        var queue = Topology.TargetQueue("feed");
        await _node.CtlAsync(["set_policy", "-p", vhost, "--apply-to", "queues", "feed-poison", $"^{queue.Replace(".", "\\.", StringComparison.Ordinal)}$",
            $"{{\"delivery-limit\": 1, \"dead-letter-exchange\": \"{Topology.PoisonQueue}\"}}"]);
        await using var connection = await _node.ConnectAsync(vhost);
        await using var channel = await connection.CreateChannelAsync(
            new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        await channel.ExchangeDeclareAsync(Topology.PoisonQueue, ExchangeType.Fanout, durable: true, autoDelete: false);
        await channel.QueueDeclareAsync(Topology.PoisonQueue, durable: true, exclusive: false, autoDelete: false,
            arguments: new Dictionary<string, object?> { ["x-queue-type"] = "quorum" });
        await channel.QueueBindAsync(Topology.PoisonQueue, Topology.PoisonQueue, string.Empty);
        await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false, arguments: QueueArguments.For(QueueType.Quorum));

        var expected = 0u;
        foreach (var message in messages)
        {
            var headers = new Dictionary<string, object?>(message.Headers!) { [RawJsonMessages.MessageTypeHeader] = message.MessageType };
            var properties = new BasicProperties { Persistent = true, ContentType = message.ContentType, MessageId = message.MessageId, Headers = headers };
            await channel.BasicPublishAsync(string.Empty, queue, mandatory: true, properties, message.Body);
            expected++;
            var poisoned = await Eventually.TrueAsync(async () =>
            {
                if (await channel.BasicGetAsync(queue, autoAck: false) is { } got)
                {
                    await channel.BasicRejectAsync(got.DeliveryTag, requeue: true);
                }

                return await _node.MessageCountAsync(vhost, Topology.PoisonQueue) == expected;
            }, TimeSpan.FromSeconds(30));
            Assert.That(poisoned, Is.True, "RabbitMQ dead-lettered the delivery to the poison queue");
        }
    }
}

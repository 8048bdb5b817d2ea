using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using SyncWorker.Contracts;
using SyncWorker.Testing;

namespace SyncWorker.Messaging.Tests;

/// <summary>
/// The one RabbitMQ publisher as the forward stage uses it, against a private node: deliveries to a target queue's
/// exchange and to a shared delay exchange (the redelivery send: one call; two targets share a delay queue), a returned send, and a caller that stops waiting.
/// Each test uses its own virtual host.
/// </summary>
[NonParallelizable]
public sealed class RabbitMqPublisherTests
{
    private const string Target = "wms";
    private RabbitMqNode _node = null!;

    [OneTimeSetUp]
    public async Task StartBroker() => _node = await RabbitMqNode.LaunchAsync();

    [OneTimeTearDown]
    public async Task StopBroker() => await _node.DisposeAsync();

    [Test]
    public async Task A_delivery_to_a_target_exchange_is_persistent_its_body_the_payload_as_it_is_and_its_fields_headers()
    {
        var vhost = await _node.CreateVirtualHostAsync();
        await using var admin = new BrokerAdmin(Transport(vhost));
        await admin.EnsureEndpointQueueAsync(Topology.TargetQueue(Target), CancellationToken.None);
        await using var publisher = Publisher(vhost);
        var delivery = Delivery("evt_forward_1");

        await publisher.PublishAsync(DeliveryMessages.Create(Topology.TargetQueue(Target), delivery, MessageIds.ForDelivery(delivery.DeliveryId)),
            RabbitMqPublisher.ForwardTimeout, CancellationToken.None);

        var queued = (await _node.DrainAsync(vhost, Topology.TargetQueue(Target))).Single();
        var headers = queued.BasicProperties.Headers;
        var read = DeliveryMessages.Read(Fields(headers), queued.Body);
        using var fields = JsonDocument.Parse(Fields(headers));
        Assert.Multiple(() =>
        {
            Assert.That(queued.BasicProperties.Persistent, Is.True);
            Assert.That(queued.BasicProperties.ContentType, Is.EqualTo("application/vnd.syncworker.delivery+json"));
            Assert.That(queued.BasicProperties.MessageId, Is.EqualTo(MessageIds.ForDelivery(delivery.DeliveryId).ToString()));
            Assert.That(Header(headers, "MT-MessageType"), Is.EqualTo("urn:message:SyncWorker.Contracts:FulfillmentDelivery"));
            Assert.That(headers!.Keys.Where(k => k.StartsWith("SyncWorker-", StringComparison.Ordinal)), Is.EqualTo(new[] { "SyncWorker-Delivery" }),
                "the fields in one header");
            Assert.That(fields.RootElement.GetProperty("deliveryId").GetString(), Is.EqualTo(delivery.DeliveryId));
            Assert.That(fields.RootElement.GetProperty("eventId").GetString(), Is.EqualTo("evt_forward_1"));
            Assert.That(fields.RootElement.GetProperty("body").GetString(), Is.EqualTo("event"));
            Assert.That(queued.Body.ToArray(), Is.EqualTo(delivery.Event.Payload.Utf8.ToArray()), "the event's bytes, not JSON around them");
            Assert.That(read, Is.EqualTo(delivery), "read back, every field");
        });
    }

    [Test]
    public async Task An_order_delivery_with_its_document_carries_the_document_as_its_body()
    {
        var vhost = await _node.CreateVirtualHostAsync();
        await using var admin = new BrokerAdmin(Transport(vhost));
        await admin.EnsureEndpointQueueAsync(Topology.TargetQueue(Target), CancellationToken.None);
        await using var publisher = Publisher(vhost);
        var document = new JsonBytes("{\"object\":\"syncworker.order\",\"order_id\":\"cs_test_1\"}"u8.ToArray());
        var delivery = Delivery("evt_order_1") with { Format = "order", Action = "order.paid", Document = document };

        await publisher.PublishAsync(DeliveryMessages.Create(Topology.TargetQueue(Target), delivery, MessageIds.ForDelivery(delivery.DeliveryId)),
            RabbitMqPublisher.ForwardTimeout, CancellationToken.None);

        var queued = (await _node.DrainAsync(vhost, Topology.TargetQueue(Target))).Single();
        var read = DeliveryMessages.Read(Fields(queued.BasicProperties.Headers), queued.Body);
        Assert.Multiple(() =>
        {
            Assert.That(DeliveryMessages.ReadFields(Fields(queued.BasicProperties.Headers))!.Body, Is.EqualTo("order-document"));
            Assert.That(queued.Body.ToArray(), Is.EqualTo(document.Utf8.ToArray()));
            Assert.That(read.Document, Is.EqualTo(document));
            Assert.That(read.Event.Payload.Length, Is.Zero, "the event's payload is not carried beside the document");
            Assert.That(read with { Document = null, Event = read.Event with { Payload = delivery.Event.Payload } }, Is.EqualTo(delivery with { Document = null }));
        });
    }

    [Test]
    public void A_sandbox_delivery_says_so_in_its_fields_header_and_a_header_without_the_field_reads_as_not_sandbox()
    {
        var plain = Delivery("evt_plain_1");
        plain = plain with { Event = plain.Event with { Livemode = false } };
        var sandbox = plain with { Event = plain.Event with { Sandbox = true } };

        var plainFields = Fields(new Dictionary<string, object?>(DeliveryMessages.Create(Topology.TargetQueue(Target), plain, Guid.NewGuid()).Headers!));
        var sandboxFields = Fields(new Dictionary<string, object?>(DeliveryMessages.Create(Topology.TargetQueue(Target), sandbox, Guid.NewGuid()).Headers!));
        using var plainJson = JsonDocument.Parse(plainFields);
        using var sandboxJson = JsonDocument.Parse(sandboxFields);
        var readSandbox = DeliveryMessages.Read(sandboxFields, sandbox.Event.Payload.Utf8);
        var readPlain = DeliveryMessages.Read(plainFields, plain.Event.Payload.Utf8);

        Assert.Multiple(() =>
        {
            Assert.That(plainJson.RootElement.TryGetProperty("sandbox", out _), Is.False, "not written when false: the header earlier versions wrote and read");
            Assert.That(sandboxJson.RootElement.GetProperty("sandbox").GetBoolean(), Is.True);
            Assert.That(readSandbox, Is.EqualTo(sandbox), "read back, sandbox included");
            Assert.That(readSandbox.Event.Environment, Is.EqualTo(StripeEnvironment.Sandbox));
            Assert.That(readPlain.Event.Sandbox, Is.False, "a header without the field (every earlier delivery) is no sandbox's");
            Assert.That(readPlain.Event.Environment, Is.EqualTo(StripeEnvironment.Test));
        });
    }

    [TestCase(null, "has no SyncWorker-Delivery header")]
    [TestCase("not json", "is not the JSON SyncWorker writes")]
    [TestCase("{\"target\":\"t\"}", "is not the JSON SyncWorker writes")]
    public void A_delivery_message_without_a_readable_fields_header_is_refused_saying_why(string? header, string expected)
    {
        var body = Delivery("evt_missing_1").Event.Payload.Utf8;

        var refused = Assert.Throws<System.Runtime.Serialization.SerializationException>(() =>
            DeliveryMessages.Read(header is null ? [] : Encoding.UTF8.GetBytes(header), body));
        Assert.That(refused!.Message, Does.Contain(expected));
    }

    [TestCase(QueueType.Classic)]
    [TestCase(QueueType.Quorum)]
    public async Task Redeliveries_of_two_targets_share_one_delay_queue_and_each_comes_back_to_its_own_target_queue_with_its_headers_and_id(QueueType type)
    {
        var vhost = await _node.CreateVirtualHostAsync();
        await using var admin = new BrokerAdmin(Transport(vhost) with { QueueType = type });
        const string other = "erp";
        var delayQueue = Topology.DelayQueue(1);
        await admin.EnsureEndpointQueueAsync(Topology.TargetQueue(Target), CancellationToken.None);
        await admin.EnsureEndpointQueueAsync(Topology.TargetQueue(other), CancellationToken.None);
        await admin.EnsureDelayQueueAsync(delayQueue, TimeSpan.FromSeconds(1), CancellationToken.None);
        await using var publisher = Publisher(vhost);
        var sent = new List<(string Target, FulfillmentDelivery Delivery, Guid MessageId)>();
        foreach (var (target, eventId) in new[] { (Target, "evt_shared_1"), (other, "evt_shared_2"), (Target, "evt_shared_3") })
        {
            var delivery = Delivery(eventId) with { Target = target };
            var messageId = Guid.NewGuid();
            sent.Add((target, delivery, messageId));
            await publisher.PublishAsync(
                DeliveryMessages.Create(delayQueue, delivery, messageId,
                    new Dictionary<string, object> { [DeliveryHeaders.RedeliveryCount] = 2, [DeliveryHeaders.FailureHistory] = "a | 503 | 5 | " + eventId })
                    with { RoutingKey = Topology.TargetQueue(target) },
                RabbitMqPublisher.ForwardTimeout,
                CancellationToken.None);
        }

        var back = await Eventually.TrueAsync(
            async () => await _node.MessageCountAsync(vhost, Topology.TargetQueue(Target)) == 2 && await _node.MessageCountAsync(vhost, Topology.TargetQueue(other)) == 1,
            TimeSpan.FromSeconds(30));
        Assert.That(back, Is.True,
            $"expired from {delayQueue} back to their own target queues ({await _node.MessageCountAsync(vhost, Topology.TargetQueue(Target))} in {Target}'s, " +
            $"{await _node.MessageCountAsync(vhost, Topology.TargetQueue(other))} in {other}'s, {await _node.MessageCountAsync(vhost, delayQueue)} still waiting)");
        var arrived = new Dictionary<string, IReadOnlyList<RabbitMQ.Client.BasicGetResult>>
        {
            [Target] = await _node.DrainAsync(vhost, Topology.TargetQueue(Target)),
            [other] = await _node.DrainAsync(vhost, Topology.TargetQueue(other)),
        };
        var queues = await _node.CtlAsync(["list_queues", "-p", vhost, "-q", "name", "type"]);
        Assert.Multiple(() =>
        {
            foreach (var (target, delivery, messageId) in sent)
            {
                var queued = arrived[target].SingleOrDefault(m => m.BasicProperties.MessageId == messageId.ToString());
                Assert.That(queued, Is.Not.Null, $"{delivery.Event.EventId} came back to {target}'s queue");
                if (queued is null)
                {
                    continue;
                }

                Assert.That(DeliveryMessages.Read(Fields(queued.BasicProperties.Headers), queued.Body), Is.EqualTo(delivery), "every field, read back");
                Assert.That(queued.BasicProperties.Headers![DeliveryHeaders.RedeliveryCount], Is.EqualTo(2));
                Assert.That(Header(queued.BasicProperties.Headers, DeliveryHeaders.FailureHistory), Is.EqualTo("a | 503 | 5 | " + delivery.Event.EventId));
                Assert.That(queued.BasicProperties.Headers.ContainsKey("x-death"), Is.True, "dead-lettered by RabbitMQ when it expired");
                Assert.That(queued.RoutingKey, Is.EqualTo(Topology.TargetQueue(target)), "its own routing key took it back");
            }

            Assert.That(queues, Does.Match($@"(?m)^{System.Text.RegularExpressions.Regex.Escape(delayQueue)}\s+{type.ToString().ToLowerInvariant()}\s*$"),
                $"one shared {type} delay queue:\n{queues}");
            Assert.That(queues, Does.Not.Match(@"syncworker\.target\.\S+\.wait\."), "no per-target delay queue");
        });
    }

    [Test]
    public async Task A_send_no_queue_takes_is_returned_as_an_error_its_channel_replaced_and_after_declaring_again_the_next_is_accepted()
    {
        var vhost = await _node.CreateVirtualHostAsync();
        await using var admin = new BrokerAdmin(Transport(vhost));
        var queue = Topology.TargetQueue(Target);
        await admin.EnsureEndpointQueueAsync(queue, CancellationToken.None);
        await using var publisher = Publisher(vhost);
        await publisher.PublishAsync(Message(queue, "evt_return_1"), RabbitMqPublisher.ForwardTimeout, CancellationToken.None);
        await _node.CtlAsync(["delete_queue", "-p", vhost, queue]);

        var returned = Assert.ThrowsAsync<EventNotQueuedException>(() =>
            publisher.PublishAsync(Message(queue, "evt_return_2"), RabbitMqPublisher.ForwardTimeout, CancellationToken.None));
        admin.Forget(queue);
        await admin.EnsureEndpointQueueAsync(queue, CancellationToken.None);
        await publisher.PublishAsync(Message(queue, "evt_return_3"), RabbitMqPublisher.ForwardTimeout, CancellationToken.None);

        Assert.That(returned!.Message, Does.Contain("returned delivery").And.Contain("evt_return_2").And.Contain($"no queue is bound to exchange {queue}"));
        Assert.That(publisher.ChannelsReplaced, Is.EqualTo(1), "the channel of the returned send, once");
        var queued = await _node.DrainAsync(vhost, queue);
        Assert.That(queued.Select(m => DeliveryMessages.ReadFields(Fields(m.BasicProperties.Headers))!.EventId), Is.EqualTo(new[] { "evt_return_3" }));
    }

    [Test]
    public async Task A_caller_that_stops_waiting_fails_neither_its_publish_nor_the_shared_channel()
    {
        var vhost = await _node.CreateVirtualHostAsync();
        await using var admin = new BrokerAdmin(Transport(vhost));
        var queue = Topology.TargetQueue(Target);
        await admin.EnsureEndpointQueueAsync(queue, CancellationToken.None);
        await using var publisher = Publisher(vhost);
        await publisher.PublishAsync(Message(queue, "evt_wait_0"), RabbitMqPublisher.ForwardTimeout, CancellationToken.None);

        // A memory alarm holds both publishes (no confirmation comes) while the first caller gives up.
        await _node.CtlAsync(["set_vm_memory_high_watermark", "0"]);
        Task abandoned, waiting;
        using (var stop = new CancellationTokenSource())
        {
            try
            {
                abandoned = publisher.PublishAsync(Message(queue, "evt_wait_1"), TimeSpan.FromSeconds(60), stop.Token);
                waiting = publisher.PublishAsync(Message(queue, "evt_wait_2"), TimeSpan.FromSeconds(60), CancellationToken.None);
                await stop.CancelAsync();
                Assert.That(async () => await abandoned, Throws.InstanceOf<OperationCanceledException>(), "the caller stopped waiting");
                Assert.That(waiting.IsCompleted, Is.False, "the other publish still waits for its confirmation");
            }
            finally
            {
                await _node.CtlAsync(["set_vm_memory_high_watermark", "0.4"]);
            }
        }

        await waiting;
        Assert.That(publisher.ChannelsReplaced, Is.Zero, "stopping a wait is not a channel failure");
        var arrived = await Eventually.TrueAsync(async () => await _node.MessageCountAsync(vhost, queue) == 3, TimeSpan.FromSeconds(30));
        Assert.That(arrived, Is.True, "the abandoned publish was confirmed all the same");
    }

    private RabbitMqPublisher Publisher(string vhost) => new(Transport(vhost), NullLogger<RabbitMqPublisher>.Instance);

    private MessagingTransport Transport(string vhost)
    {
        Assert.That(RabbitMqEndpoint.TryParse(_node.AmqpUri(vhost).ToString(), out var endpoint, out var error), Is.True, error);
        return new MessagingTransport(endpoint!, "publisher-tests") { Nodes = [new BrokerNode("127.0.0.1", _node.AmqpPort)] };
    }

    private static OutgoingMessage Message(string exchange, string eventId)
    {
        var delivery = Delivery(eventId);
        return DeliveryMessages.Create(exchange, delivery, MessageIds.ForDelivery(delivery.DeliveryId));
    }

    private static FulfillmentDelivery Delivery(string eventId) => new(
        Target,
        "msg_" + eventId,
        "event",
        "checkout.session.completed",
        new StripeEventReceived(
            eventId,
            "checkout.session.completed",
            "acct_1PublisherTests",
            Livemode: true,
            "2025-03-31.basil",
            DateTimeOffset.FromUnixTimeSeconds(1_764_000_000),
            "checkout.session",
            "cs_test_1",
            DateTimeOffset.UtcNow,
            "{\"id\":\"" + eventId + "\",\"object\":\"event\",\"note\":\"quotes \\\" and \u00e9\"}"));

    private static byte[] Fields(IDictionary<string, object?>? headers) =>
        headers is not null && headers.TryGetValue(DeliveryHeaders.Delivery, out var value) && value is byte[] bytes ? bytes : [];

    private static string? Header(IDictionary<string, object?>? headers, string key) =>
        headers is not null && headers.TryGetValue(key, out var value) && value is not null
            ? value is byte[] bytes ? Encoding.UTF8.GetString(bytes) : Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture)
            : null;
}

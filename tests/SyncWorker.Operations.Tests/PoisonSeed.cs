using System.Text;
using System.Text.Json.Nodes;
using RabbitMQ.Client;
using SyncWorker.Contracts;
using SyncWorker.Testing;

namespace SyncWorker.Operations.Tests;

/// <summary>
/// Makes poison messages the way RabbitMQ does in production (deploy/rabbitmq/definitions.json): the quorum queue
/// <c>syncworker.poison</c> bound to the fanout exchange <c>syncworker.poison</c>, and source queues (quorum, with a
/// delivery limit and that dead-letter exchange) from which a message is rejected with requeue until RabbitMQ
/// dead-letters it, with its own <c>x-death</c> header (reason <c>delivery_limit</c>).
/// </summary>
internal static class PoisonSeed
{
    /// <summary>Declares the poison exchange and queue, as the definitions do.</summary>
    public static async Task DeclarePoisonAsync(IChannel channel)
    {
        await channel.ExchangeDeclareAsync(Topology.PoisonQueue, ExchangeType.Fanout, durable: true, autoDelete: false);
        await channel.QueueDeclareAsync(
            Topology.PoisonQueue, durable: true, exclusive: false, autoDelete: false,
            arguments: new Dictionary<string, object?> { ["x-queue-type"] = "quorum" });
        await channel.QueueBindAsync(Topology.PoisonQueue, Topology.PoisonQueue, string.Empty);
    }

    /// <summary>
    /// Declares <paramref name="queue"/> as the policies make it (quorum, delivery limit 1 here, dead-lettering to
    /// <c>syncworker.poison</c>), and, for a target queue, its error queue.
    /// </summary>
    public static async Task DeclareSourceAsync(IChannel channel, string queue)
    {
        await channel.QueueDeclareAsync(
            queue, durable: true, exclusive: false, autoDelete: false,
            arguments: new Dictionary<string, object?>
            {
                ["x-queue-type"] = "quorum",
                ["x-delivery-limit"] = 1,
                ["x-dead-letter-exchange"] = Topology.PoisonQueue,
            });
        if (queue.StartsWith(Topology.TargetQueuePrefix, StringComparison.Ordinal))
        {
            await channel.QueueDeclareAsync(queue + Topology.ErrorQueueSuffix, durable: true, exclusive: false, autoDelete: false);
        }
    }

    /// <summary>
    /// Publishes each message to its queue and rejects it (requeue) until RabbitMQ dead-letters it to
    /// <c>syncworker.poison</c>; returns once the poison queue holds them all, in the order given.
    /// </summary>
    public static async Task PoisonAsync(RabbitMqNode node, string virtualHost, params (string Queue, BasicProperties Properties, byte[] Body)[] messages)
    {
        await using var connection = await node.ConnectAsync(virtualHost);
        await using var channel = await connection.CreateChannelAsync(
            new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        await DeclarePoisonAsync(channel);
        var declared = new HashSet<string>(StringComparer.Ordinal);
        var expected = await node.MessageCountAsync(virtualHost, Topology.PoisonQueue);
        foreach (var (queue, properties, body) in messages)
        {
            if (declared.Add(queue))
            {
                await DeclareSourceAsync(channel, queue);
            }

            await channel.BasicPublishAsync(string.Empty, queue, mandatory: true, properties, body);
            expected++;

            // Deliver and requeue until the broker takes it away: the limit is 1, so the second return dead-letters it.
            var poisoned = await Eventually.TrueAsync(async () =>
            {
                if (await channel.BasicGetAsync(queue, autoAck: false) is { } delivery)
                {
                    await channel.BasicRejectAsync(delivery.DeliveryTag, requeue: true);
                }

                return await node.MessageCountAsync(virtualHost, Topology.PoisonQueue) == expected;
            }, TimeSpan.FromSeconds(30));
            Assert.That(poisoned, Is.True, $"RabbitMQ dead-lettered the message from {queue} to {Topology.PoisonQueue}");
            Assert.That(await node.MessageCountAsync(virtualHost, queue), Is.Zero, $"{queue} is empty again");
        }
    }

    /// <summary>A delivery of <paramref name="spec"/> as it sits in its target queue (no failure headers).</summary>
    public static (string Queue, BasicProperties Properties, byte[] Body) Delivery(DeadLetterSpec spec) =>
        (Topology.TargetQueue(spec.Target), new BasicProperties
        {
            MessageId = spec.MessageId,
            ContentType = "application/vnd.masstransit+json",
            DeliveryMode = DeliveryModes.Persistent,
            Headers = new Dictionary<string, object?> { ["Content-Type"] = "application/vnd.masstransit+json" },
        }, spec.Body());

    /// <summary>An intake message as the receiver publishes it: raw <c>StripeEventReceived</c> JSON.</summary>
    public static (string Queue, BasicProperties Properties, byte[] Body) Intake(string eventId, string messageId)
    {
        var body = new JsonObject
        {
            ["eventId"] = eventId,
            ["type"] = "checkout.session.completed",
            ["account"] = "acct_1QxIntake00001",
            ["livemode"] = true,
            ["apiVersion"] = "2025-10-29.clover",
            ["created"] = "2025-11-20T09:55:00+00:00",
            ["objectType"] = "checkout.session",
            ["objectId"] = "cs_test_i1",
            ["receivedAt"] = "2025-11-20T09:55:01+00:00",
            ["payload"] = "{}",
        };
        return (Topology.IntakeQueue, new BasicProperties
        {
            MessageId = messageId,
            ContentType = "application/json",
            DeliveryMode = DeliveryModes.Persistent,
            Headers = new Dictionary<string, object?> { ["Stripe-Event-Id"] = Encoding.UTF8.GetBytes(eventId) },
        }, Encoding.UTF8.GetBytes(body.ToJsonString()));
    }
}

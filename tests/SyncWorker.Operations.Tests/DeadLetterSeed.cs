using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using RabbitMQ.Client;
using SyncWorker.Contracts;
using SyncWorker.Testing;

namespace SyncWorker.Operations.Tests;

/// <summary>One dead letter as the forwarder leaves it in <c>syncworker.target.{name}_error</c>.</summary>
internal sealed record DeadLetterSpec(
    string Target,
    string EventId,
    string Action = "order.paid",
    string EventType = "checkout.session.completed",
    string Account = "acct_1QxWarehouse0001",
    string Reason = "Delivering order cs_test_a1 (order.paid) to target 'warehouse' failed after 5 attempts; last: 503 Service Unavailable.",
    int? Status = 503,
    int Attempts = 5,
    bool Permanent = false,
    DateTimeOffset? FailedAt = null,
    bool OnlyMassTransitTimestamp = false,
    bool RawJson = false,
    bool HeaderFormat = false)
{
    public static readonly DateTimeOffset DefaultFailedAt = new(2025, 11, 20, 10, 0, 0, TimeSpan.Zero);

    public const string History =
        "2025-11-20T09:58:00.0000000+00:00 | 503 | 5 | first round failed\n2025-11-20T10:00:00.0000000+00:00 | 503 | 5 | second round failed";

    public string MessageId { get; } = Guid.NewGuid().ToString();

    /// <summary>Stable per target, event and action, as the forwarder makes it.</summary>
    public string DeliveryId =>
        "msg_" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{Target}|{EventId}|{Action}")))[..32];

    public DateTimeOffset FailedTime => FailedAt ?? DefaultFailedAt;

    private byte[]? _body;

    /// <summary>
    /// The MassTransit JSON envelope of a <see cref="FulfillmentDelivery"/>, or with <see cref="RawJson"/> the delivery
    /// itself (MassTransit's raw JSON), as earlier versions queued them, or with <see cref="HeaderFormat"/> the event as
    /// the dispatcher now sends it (its fields in headers); the same bytes on every call.
    /// </summary>
    public byte[] Body() => _body ??= BuildBody();

    private byte[] BuildBody()
    {
        var payload = new JsonObject
        {
            ["id"] = EventId,
            ["object"] = "event",
            ["type"] = EventType,
            ["account"] = Account,
            ["livemode"] = true,
            ["data"] = new JsonObject { ["object"] = new JsonObject { ["id"] = "cs_test_a1", ["object"] = "checkout.session" } },
        };
        var delivery = new JsonObject
        {
            ["target"] = Target,
            ["deliveryId"] = DeliveryId,
            ["format"] = "order",
            ["action"] = Action,
            ["event"] = new JsonObject
            {
                ["eventId"] = EventId,
                ["type"] = EventType,
                ["account"] = Account,
                ["livemode"] = true,
                ["apiVersion"] = "2025-10-29.clover",
                ["created"] = "2025-11-20T09:55:00+00:00",
                ["objectType"] = "checkout.session",
                ["objectId"] = "cs_test_a1",
                ["receivedAt"] = "2025-11-20T09:55:01+00:00",
                ["payload"] = payload.ToJsonString(),
            },
        };
        if (HeaderFormat)
        {
            return Encoding.UTF8.GetBytes(payload.ToJsonString());
        }

        if (RawJson)
        {
            return Encoding.UTF8.GetBytes(delivery.ToJsonString());
        }

        var envelope = new JsonObject
        {
            ["messageId"] = MessageId,
            ["conversationId"] = Guid.NewGuid().ToString(),
            ["sourceAddress"] = "rabbitmq://localhost/forwarder_bus",
            ["destinationAddress"] = $"rabbitmq://localhost/{Topology.TargetQueue(Target)}",
            ["messageType"] = new JsonArray("urn:message:SyncWorker.Contracts:FulfillmentDelivery"),
            ["message"] = delivery,
            ["headers"] = new JsonObject(),
            ["sentTime"] = "2025-11-20T09:55:02+00:00",
            ["host"] = new JsonObject { ["machineName"] = "forwarder-1", ["processName"] = "SyncWorker" },
        };
        return Encoding.UTF8.GetBytes(envelope.ToJsonString());
    }

    public BasicProperties Properties()
    {
        var headers = new Dictionary<string, object?>
        {
            ["MT-Host-MachineName"] = "forwarder-1",
            ["MT-Reason"] = "fault",
            ["MT-Fault-ExceptionType"] = "SyncWorker.Forwarding.Delivery.DeliveryFailedException",
            ["MT-Fault-Message"] = Reason,
            ["MT-Fault-Timestamp"] = FailedTime.ToString("O"),
            ["MT-Fault-StackTrace"] = "   at SyncWorker.Forwarding.Consumers.TargetDeliveryConsumer.Consume(...)",
            [DeliveryHeaders.RedeliveryCount] = 3,
            [DeliveryHeaders.FailureHistory] = Encoding.UTF8.GetBytes(History),
        };
        if (HeaderFormat)
        {
            // What the dispatcher's publisher writes (DeliveryMessages): the delivery's fields in one JSON header.
            headers["MT-MessageType"] = Encoding.UTF8.GetBytes("urn:message:SyncWorker.Contracts:FulfillmentDelivery");
            headers["SyncWorker-Delivery"] = Encoding.UTF8.GetBytes(new JsonObject
            {
                ["target"] = Target,
                ["deliveryId"] = DeliveryId,
                ["format"] = "event",
                ["action"] = Action,
                ["body"] = "event",
                ["eventId"] = EventId,
                ["eventType"] = EventType,
                ["account"] = Account,
                ["livemode"] = true,
                ["eventCreated"] = "2025-11-20T09:55:00+00:00",
                ["objectType"] = "checkout.session",
                ["objectId"] = "cs_test_a1",
                ["receivedAt"] = "2025-11-20T09:55:01+00:00",
            }.ToJsonString());
        }
        else if (RawJson)
        {
            // What the dispatcher's publisher wrote; MassTransit's error transport keeps the transport headers.
            headers["MT-MessageType"] = Encoding.UTF8.GetBytes("urn:message:SyncWorker.Contracts:FulfillmentDelivery");
            headers["MT-Activity-Id"] = Encoding.UTF8.GetBytes("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
        }
        else
        {
            headers["Content-Type"] = "application/vnd.masstransit+json";
        }

        if (!OnlyMassTransitTimestamp)
        {
            headers[DeliveryHeaders.FailureReason] = Encoding.UTF8.GetBytes(Reason);
            headers[DeliveryHeaders.FailureAttempts] = Encoding.UTF8.GetBytes(Attempts.ToString(System.Globalization.CultureInfo.InvariantCulture));
            headers[DeliveryHeaders.FailurePermanent] = Permanent ? "true" : "false";
            headers[DeliveryHeaders.FailedAt] = Encoding.UTF8.GetBytes(FailedTime.ToString("O"));
            if (Status is { } status)
            {
                headers[DeliveryHeaders.FailureStatus] = Encoding.UTF8.GetBytes(status.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        return new BasicProperties
        {
            MessageId = MessageId,
            ContentType = HeaderFormat ? "application/vnd.syncworker.delivery+json" : RawJson ? "application/json" : "application/vnd.masstransit+json",
            DeliveryMode = DeliveryModes.Persistent,
            Headers = headers,
        };
    }
}

internal static class DeadLetterSeed
{
    /// <summary>Declares the targets' queues (as the worker does) and publishes the dead letters, confirmed, in order.</summary>
    public static async Task SeedAsync(
        RabbitMqNode node, string virtualHost, IEnumerable<DeadLetterSpec> deadLetters, bool declareTargetQueues = true)
    {
        await using var connection = await node.ConnectAsync(virtualHost);
        await using var channel = await connection.CreateChannelAsync(
            new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        var declared = new HashSet<string>();
        foreach (var deadLetter in deadLetters)
        {
            if (declared.Add(deadLetter.Target))
            {
                await DeclareTargetAsync(channel, deadLetter.Target, declareTargetQueues);
            }

            await channel.BasicPublishAsync(
                string.Empty, Topology.TargetErrorQueue(deadLetter.Target), mandatory: true, deadLetter.Properties(), deadLetter.Body());
        }
    }

    public static async Task DeclareTargetAsync(IChannel channel, string target, bool targetQueue = true)
    {
        if (targetQueue)
        {
            await channel.QueueDeclareAsync(Topology.TargetQueue(target), durable: true, exclusive: false, autoDelete: false);
        }

        await channel.QueueDeclareAsync(Topology.TargetErrorQueue(target), durable: true, exclusive: false, autoDelete: false);
    }

    public static string Text(object? header) => header switch
    {
        byte[] bytes => Encoding.UTF8.GetString(bytes),
        null => "<null>",
        _ => header.ToString() ?? "",
    };
}

using System.Text.Json;
using RabbitMQ.Client;
using SyncWorker.Contracts;
using SyncWorker.Messaging.Broker;

namespace SyncWorker.Messaging.DeadLetters;

/// <summary>
/// What an operator needs to know about one dead letter: which event and delivery it is, and why it failed. Read from
/// the message's transport headers (<see cref="DeliveryHeaders"/>, and RabbitMQ's <c>x-death</c> as <see cref="Death"/>)
/// and, for the formats that keep them in the body, its body: a delivery as the dispatcher sends it has its fields in its
/// <c>SyncWorker-Delivery</c> header (the body is what is posted); a delivery queued
/// by an earlier version is raw JSON or a MassTransit JSON envelope; an intake message is the raw
/// <c>StripeEventReceived</c> JSON. A field that is missing or unreadable is null, never an error.
/// </summary>
public sealed record DeadLetter(
    string? MessageId,
    string? EventId,
    string? EventType,
    string? Account,
    bool? Livemode,
    string? DeliveryId,
    string? Action,
    string? Reason,
    int? Status,
    int? Attempts,
    bool? Permanent,
    DateTimeOffset? FailedAt,
    DateTimeOffset? ReplayedAt,
    DeathHeader? Death)
{
    /// <summary>MassTransit's fault time, used when <see cref="DeliveryHeaders.FailedAt"/> is missing.</summary>
    public const string MassTransitFaultTimestamp = "MT-Fault-Timestamp";

    /// <summary>MassTransit's exception message, used when <see cref="DeliveryHeaders.FailureReason"/> is missing.</summary>
    public const string MassTransitFaultMessage = "MT-Fault-Message";

    public static DeadLetter Read(IReadOnlyBasicProperties properties, ReadOnlyMemory<byte> body)
    {
        ArgumentNullException.ThrowIfNull(properties);
        var headers = properties.Headers;
        var envelope = Envelope.FromHeader(headers) ?? Envelope.Read(body);
        return new DeadLetter(
            MessageId: properties.MessageId ?? envelope.MessageId,
            EventId: envelope.EventId,
            EventType: envelope.EventType,
            Account: envelope.Account,
            Livemode: envelope.Livemode,
            DeliveryId: envelope.DeliveryId,
            Action: envelope.Action,
            Reason: HeaderValues.GetString(headers, DeliveryHeaders.FailureReason)
                ?? HeaderValues.GetString(headers, MassTransitFaultMessage),
            Status: HeaderValues.GetInt32(headers, DeliveryHeaders.FailureStatus),
            Attempts: HeaderValues.GetInt32(headers, DeliveryHeaders.FailureAttempts),
            Permanent: HeaderValues.GetBoolean(headers, DeliveryHeaders.FailurePermanent),
            FailedAt: HeaderValues.GetTime(headers, DeliveryHeaders.FailedAt)
                ?? HeaderValues.GetTime(headers, MassTransitFaultTimestamp),
            ReplayedAt: HeaderValues.GetTime(headers, DeliveryHeaders.ReplayedAt),
            Death: DeathHeader.Read(headers));
    }

    /// <summary>
    /// The fields of MassTransit's camelCase JSON envelope this tool reads:
    /// <c>{ "messageId", "message": { "target", "deliveryId", "format", "action", "event": { "eventId", "type", "account", "livemode", … } } }</c>;
    /// or of a raw JSON delivery, the same without the envelope: <c>{ "target", "deliveryId", …, "event": { … } }</c>;
    /// or of an intake message, whose body is the raw <c>StripeEventReceived</c>: <c>{ "eventId", "type", "account", "livemode", … }</c>.
    /// </summary>
    private sealed record Envelope(
        string? MessageId, string? DeliveryId, string? Action, string? EventId, string? EventType, string? Account, bool? Livemode)
    {
        private static readonly Envelope Unreadable = new(null, null, null, null, null, null, null);

        /// <summary>The fields of the <c>SyncWorker-Delivery</c> header; null without one (earlier formats).</summary>
        public static Envelope? FromHeader(IDictionary<string, object?>? headers)
        {
            if (headers is null || !headers.TryGetValue(DeliveryHeaders.Delivery, out var value) || value is null)
            {
                return null;
            }

            try
            {
                var bytes = value as byte[] ?? System.Text.Encoding.UTF8.GetBytes(value.ToString() ?? "");
                return DeliveryMessages.ReadFields(bytes) is { } fields
                    ? new Envelope(null, fields.DeliveryId, fields.Action, fields.EventId, fields.EventType, fields.Account, fields.Livemode)
                    : null;
            }
            catch (System.Runtime.Serialization.SerializationException)
            {
                return Unreadable;
            }
        }

        public static Envelope Read(ReadOnlyMemory<byte> body)
        {
            try
            {
                using var document = JsonDocument.Parse(body);
                var root = document.RootElement;
                if (root.ValueKind != JsonValueKind.Object)
                {
                    return Unreadable;
                }

                var message = Child(root, "message") ?? root;
                var stripeEvent = Child(message, "event") ?? (Text(message, "eventId") is not null ? message : null);
                return new Envelope(
                    Text(root, "messageId"),
                    Text(message, "deliveryId"),
                    Text(message, "action"),
                    stripeEvent is { } e ? Text(e, "eventId") : null,
                    stripeEvent is { } t ? Text(t, "type") : null,
                    stripeEvent is { } a ? Text(a, "account") : null,
                    stripeEvent is { } l ? Flag(l, "livemode") : null);
            }
            catch (JsonException)
            {
                return Unreadable;
            }
        }

        private static JsonElement? Child(JsonElement element, string name) =>
            element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var child) && child.ValueKind == JsonValueKind.Object
                ? child
                : null;

        private static bool? Flag(JsonElement element, string name) =>
            element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind is JsonValueKind.True or JsonValueKind.False
                ? value.GetBoolean()
                : null;

        private static string? Text(JsonElement element, string name) =>
            element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String
                ? value.GetString()
                : null;
    }
}

using System.Globalization;
using System.Net.Mime;
using System.Runtime.Serialization;
using MassTransit;
using MassTransit.Serialization;
using SyncWorker.Contracts;

namespace SyncWorker.Messaging;

/// <summary>
/// The format of a <see cref="FulfillmentDelivery"/> in a target queue (and its delay queues) since the forward path was
/// made cheap: the body is the bytes to post, as they are (the Stripe event exactly as Stripe signed it, or the order
/// document built by the dispatcher), and everything else travels in transport headers
/// (<see cref="DeliveryHeaders"/>). No JSON around the body: the payload is neither escaped into a string on the way out
/// nor parsed and unescaped on the way in, and the consumer posts the bytes it received.
/// <para>
/// Content type <see cref="ContentType"/>; target endpoints read it with <see cref="DeliveryMessageDeserializer"/>, next to
/// the JSON formats of earlier versions (MassTransit's raw JSON and its envelope), so deliveries already queued by an
/// earlier version are still delivered; a redelivery of one is written in this format.
/// </para>
/// </summary>
public static class DeliveryMessages
{
    /// <summary>The AMQP content type of a delivery in this format.</summary>
    public const string ContentType = "application/vnd.syncworker.delivery+json";

    /// <summary><see cref="DeliveryHeaders.Body"/> of a body that is the Stripe event.</summary>
    public const string EventBody = "event";

    /// <summary><see cref="DeliveryHeaders.Body"/> of a body that is the order document.</summary>
    public const string OrderDocumentBody = "order-document";

    /// <summary>
    /// <paramref name="delivery"/> as a message for <paramref name="exchange"/> (a target queue's exchange or one of its
    /// delay exchanges) with <paramref name="messageId"/> and, besides its own, the <paramref name="extraHeaders"/> (the
    /// redelivery count and history of a redelivery). The body is the delivery's document when it has one, else its event's
    /// payload: the same memory, not a copy.
    /// </summary>
    public static OutgoingMessage Create(
        string exchange,
        FulfillmentDelivery delivery,
        Guid messageId,
        IReadOnlyDictionary<string, object>? extraHeaders = null)
    {
        ArgumentNullException.ThrowIfNull(delivery);
        var evt = delivery.Event;
        var headers = new Dictionary<string, object?>(16 + (extraHeaders?.Count ?? 0), StringComparer.Ordinal)
        {
            [DeliveryHeaders.Target] = delivery.Target,
            [DeliveryHeaders.DeliveryId] = delivery.DeliveryId,
            [DeliveryHeaders.Format] = delivery.Format,
            [DeliveryHeaders.Action] = delivery.Action,
            [DeliveryHeaders.Body] = delivery.Document is null ? EventBody : OrderDocumentBody,
            [DeliveryHeaders.EventId] = evt.EventId,
            [DeliveryHeaders.EventType] = evt.Type,
            [DeliveryHeaders.Livemode] = evt.Livemode,
            [DeliveryHeaders.EventCreated] = evt.Created.ToString("O", CultureInfo.InvariantCulture),
            [DeliveryHeaders.ObjectType] = evt.ObjectType,
            [DeliveryHeaders.ReceivedAt] = evt.ReceivedAt.ToString("O", CultureInfo.InvariantCulture),
        };
        if (evt.Account is { } account)
        {
            headers[DeliveryHeaders.Account] = account;
        }

        if (evt.ApiVersion is { } apiVersion)
        {
            headers[DeliveryHeaders.ApiVersion] = apiVersion;
        }

        if (evt.ObjectId is { } objectId)
        {
            headers[DeliveryHeaders.ObjectId] = objectId;
        }

        if (extraHeaders is not null)
        {
            foreach (var (name, value) in extraHeaders)
            {
                headers[name] = value;
            }
        }

        return new OutgoingMessage(
            exchange,
            delivery.Document?.Utf8 ?? evt.Payload.Utf8,
            messageId.ToString(),
            RawJsonMessages.FulfillmentDeliveryType)
        {
            ContentType = ContentType,
            Headers = headers,
            Timestamp = evt.ReceivedAt,
            Description = $"delivery {delivery.DeliveryId} of event {evt.EventId}",
        };
    }

    /// <summary>
    /// The delivery that <paramref name="body"/> and its transport headers carry (the body is wrapped, not copied).
    /// </summary>
    /// <param name="header">Reads one header as text (null when absent); booleans and numbers as their invariant text.</param>
    /// <param name="body">The message body.</param>
    /// <exception cref="SerializationException">A header the format requires is missing or unreadable; names it.</exception>
    public static FulfillmentDelivery Read(Func<string, string?> header, ReadOnlyMemory<byte> body)
    {
        ArgumentNullException.ThrowIfNull(header);
        string Required(string name) => header(name) is { Length: > 0 } value
            ? value
            : throw new SerializationException($"The delivery message has no {name} header: it was not written by SyncWorker's dispatcher.");

        DateTimeOffset Time(string name) =>
            DateTimeOffset.TryParse(Required(name), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var time)
                ? time
                : throw new SerializationException($"The delivery message's {name} header is not an ISO 8601 time.");

        var bodyKind = Required(DeliveryHeaders.Body);
        if (bodyKind is not (EventBody or OrderDocumentBody))
        {
            throw new SerializationException($"The delivery message's {DeliveryHeaders.Body} header is '{bodyKind}', neither '{EventBody}' nor '{OrderDocumentBody}'.");
        }

        var livemode = Required(DeliveryHeaders.Livemode);
        var json = new JsonBytes(body);
        var evt = new StripeEventReceived(
            Required(DeliveryHeaders.EventId),
            Required(DeliveryHeaders.EventType),
            header(DeliveryHeaders.Account),
            bool.TryParse(livemode, out var live) ? live : throw new SerializationException($"The delivery message's {DeliveryHeaders.Livemode} header is '{livemode}', not true or false."),
            header(DeliveryHeaders.ApiVersion),
            Time(DeliveryHeaders.EventCreated),
            Required(DeliveryHeaders.ObjectType),
            header(DeliveryHeaders.ObjectId),
            Time(DeliveryHeaders.ReceivedAt),
            bodyKind == EventBody ? json : JsonBytes.Empty);
        return new FulfillmentDelivery(
            Required(DeliveryHeaders.Target),
            Required(DeliveryHeaders.DeliveryId),
            Required(DeliveryHeaders.Format),
            Required(DeliveryHeaders.Action),
            evt,
            bodyKind == OrderDocumentBody ? json : null);
    }
}

/// <summary>
/// Reads <see cref="DeliveryMessages.ContentType"/> messages for MassTransit: the <see cref="FulfillmentDelivery"/> is
/// made from the transport headers and the body MassTransit already holds, with no JSON parsing. Added to target endpoints
/// with <see cref="DeliveryMessageDeserializer.Factory"/>.
/// </summary>
public sealed class DeliveryMessageDeserializer : IMessageDeserializer
{
    private static readonly ContentType Type = new(DeliveryMessages.ContentType);

    /// <summary>For <c>IReceiveEndpointConfigurator.AddDeserializer</c>.</summary>
    public static ISerializerFactory Factory { get; } = new SerializerFactory();

    /// <inheritdoc />
    public ContentType ContentType => Type;

    /// <inheritdoc />
    public void Probe(ProbeContext context) => context?.CreateScope("syncworker-delivery").Add("contentType", DeliveryMessages.ContentType);

    /// <inheritdoc />
    public ConsumeContext Deserialize(ReceiveContext receiveContext)
    {
        ArgumentNullException.ThrowIfNull(receiveContext);
        return new BodyConsumeContext(receiveContext, Deserialize(receiveContext.Body, receiveContext.TransportHeaders, receiveContext.InputAddress));
    }

    /// <inheritdoc />
    public SerializerContext Deserialize(MessageBody body, Headers headers, Uri? destinationAddress = null)
    {
        ArgumentNullException.ThrowIfNull(body);
        ArgumentNullException.ThrowIfNull(headers);
        var delivery = DeliveryMessages.Read(name => HeaderText(headers, name), body.GetBytes());
        return new Context(body, delivery, new RawMessageContext(headers, destinationAddress!, RawSerializerOptions.Default));
    }

    /// <inheritdoc />
    public MessageBody GetMessageBody(string text) => new StringMessageBody(text);

    private static string? HeaderText(Headers headers, string name) =>
        headers.TryGetHeader(name, out var value) ? value switch
        {
            null => null,
            string text => text,
            byte[] bytes => System.Text.Encoding.UTF8.GetString(bytes),
            bool flag => flag ? "true" : "false",
            IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
            _ => value.ToString(),
        } : null;

    /// <summary>The deserialized delivery; forwarding or moving it sends the same body.</summary>
    private sealed class Context(MessageBody body, FulfillmentDelivery delivery, MessageContext messageContext)
        : BaseSerializerContext(SystemTextJsonMessageSerializer.Instance, messageContext, [RawJsonMessages.FulfillmentDeliveryType])
    {
        public override bool TryGetMessage<T>(out T? message)
            where T : class
        {
            message = delivery as T;
            return message is not null;
        }

        public override bool TryGetMessage(Type messageType, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out object? message)
        {
            ArgumentNullException.ThrowIfNull(messageType);
            message = messageType.IsInstanceOfType(delivery) ? delivery : null;
            return message is not null;
        }

        public override bool IsSupportedMessageType<T>() => typeof(T).IsAssignableFrom(typeof(FulfillmentDelivery));

        public override bool IsSupportedMessageType(Type messageType) =>
            messageType is not null && messageType.IsAssignableFrom(typeof(FulfillmentDelivery));

        public override IMessageSerializer GetMessageSerializer() => new CopyBodySerializer(Type, body);

        public override IMessageSerializer GetMessageSerializer<T>(MessageEnvelope envelope, T message) => new CopyBodySerializer(Type, body);

        public override IMessageSerializer GetMessageSerializer(object message, string[] messageTypes) => new CopyBodySerializer(Type, body);

        public override Dictionary<string, object> ToDictionary<T>(T? message)
            where T : class =>
            message is null
                ? new Dictionary<string, object>(StringComparer.OrdinalIgnoreCase)
                : System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, object>>(
                    System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(message, SystemTextJsonMessageSerializer.Options))
                  ?? new Dictionary<string, object>(StringComparer.OrdinalIgnoreCase);
    }

    private sealed class SerializerFactory : ISerializerFactory
    {
        public ContentType ContentType => Type;

        public IMessageSerializer CreateSerializer() => throw new NotSupportedException(
            $"{DeliveryMessages.ContentType} messages are written by SyncWorker's RabbitMqPublisher (DeliveryMessages.Create), not by MassTransit.");

        public IMessageDeserializer CreateDeserializer() => new DeliveryMessageDeserializer();
    }
}

using System.Net.Mime;
using System.Runtime.Serialization;
using System.Text.Json;
using System.Text.Json.Serialization;
using MassTransit;
using MassTransit.Serialization;
using SyncWorker.Contracts;

namespace SyncWorker.Messaging;

/// <summary>
/// The format of a <see cref="FulfillmentDelivery"/> in a target queue (and its delay queues) since the forward path was
/// made cheap: the body is the bytes to post, as they are (the Stripe event exactly as Stripe signed it, or the order
/// document built by the dispatcher), and the delivery's fields travel in one transport header,
/// <see cref="DeliveryHeaders.Delivery"/>, as compact JSON (<see cref="DeliveryFields"/>). No JSON around the body: the
/// payload is neither escaped into a string on the way out nor parsed and unescaped on the way in, and the consumer posts
/// the bytes it received. One header rather than one per field: one entry for the broker's header table and one small
/// JSON document to read, whose fields are checked in one place (<see cref="ReadFields"/>).
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

    /// <summary><see cref="DeliveryFields.Body"/> of a body that is the Stripe event.</summary>
    public const string EventBody = "event";

    /// <summary><see cref="DeliveryFields.Body"/> of a body that is the order document.</summary>
    public const string OrderDocumentBody = "order-document";

    /// <summary>
    /// <paramref name="delivery"/> as a message for <paramref name="exchange"/> (a target queue's exchange, or a shared
    /// delay exchange with the target queue as <see cref="OutgoingMessage.RoutingKey"/>) with <paramref name="messageId"/> and, besides its own, the <paramref name="extraHeaders"/> (the
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
        var fields = new DeliveryFields(
            delivery.Target,
            delivery.DeliveryId,
            delivery.Format,
            delivery.Action,
            delivery.Document is null ? EventBody : OrderDocumentBody,
            evt.EventId,
            evt.Type,
            evt.Account,
            evt.Livemode,
            evt.ApiVersion,
            evt.Created,
            evt.ObjectType,
            evt.ObjectId,
            evt.ReceivedAt,
            evt.Sandbox);
        var headers = new Dictionary<string, object?>(1 + (extraHeaders?.Count ?? 0), StringComparer.Ordinal)
        {
            [DeliveryHeaders.Delivery] = JsonSerializer.SerializeToUtf8Bytes(fields, RawJsonContext.Default.DeliveryFields),
        };
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
    /// The delivery that <paramref name="body"/> and its <see cref="DeliveryHeaders.Delivery"/> header
    /// (<paramref name="fieldsHeader"/>, UTF-8 JSON) carry; the body is wrapped, not copied.
    /// </summary>
    /// <exception cref="SerializationException">The header is missing, not JSON, or lacks a field; says which.</exception>
    public static FulfillmentDelivery Read(ReadOnlySpan<byte> fieldsHeader, ReadOnlyMemory<byte> body)
    {
        var fields = ReadFields(fieldsHeader)
            ?? throw new SerializationException($"The delivery message has no {DeliveryHeaders.Delivery} header: it was not written by SyncWorker's dispatcher.");
        var json = new JsonBytes(body);
        var evt = new StripeEventReceived(
            fields.EventId,
            fields.EventType,
            fields.Account,
            fields.Livemode,
            fields.ApiVersion,
            fields.EventCreated,
            fields.ObjectType,
            fields.ObjectId,
            fields.ReceivedAt,
            fields.Body == EventBody ? json : JsonBytes.Empty,
            fields.Sandbox);
        return new FulfillmentDelivery(fields.Target, fields.DeliveryId, fields.Format, fields.Action, evt, fields.Body == OrderDocumentBody ? json : null);
    }

    /// <summary>
    /// The fields of a <see cref="DeliveryHeaders.Delivery"/> header, or null when <paramref name="fieldsHeader"/> is empty.
    /// </summary>
    /// <exception cref="SerializationException">Not JSON, or a required field is missing or unknown; says which.</exception>
    public static DeliveryFields? ReadFields(ReadOnlySpan<byte> fieldsHeader)
    {
        if (fieldsHeader.IsEmpty)
        {
            return null;
        }

        DeliveryFields? fields;
        try
        {
            fields = JsonSerializer.Deserialize(fieldsHeader, RawJsonContext.Default.DeliveryFields);
        }
        catch (JsonException exception)
        {
            throw new SerializationException($"The delivery message's {DeliveryHeaders.Delivery} header is not the JSON SyncWorker writes: {exception.Message}", exception);
        }

        if (fields is null)
        {
            throw new SerializationException($"The delivery message's {DeliveryHeaders.Delivery} header is null.");
        }

        if (fields.Body is not (EventBody or OrderDocumentBody))
        {
            throw new SerializationException($"The delivery message's {DeliveryHeaders.Delivery} header says the body is '{fields.Body}', neither '{EventBody}' nor '{OrderDocumentBody}'.");
        }

        return fields;
    }
}

/// <summary>
/// The fields of a delivery in its <see cref="DeliveryHeaders.Delivery"/> header (camelCase JSON); every field but the
/// optional ones (<see cref="Account"/>, <see cref="ApiVersion"/>, <see cref="ObjectId"/>, <see cref="Sandbox"/>) is required.
/// </summary>
/// <param name="Target">The target's name.</param>
/// <param name="DeliveryId">The delivery id (<c>webhook-id</c>, <c>Idempotency-Key</c>).</param>
/// <param name="Format"><c>order</c> or <c>event</c>.</param>
/// <param name="Action"><c>order.paid</c>, else the event type.</param>
/// <param name="Body">What the body is: <c>event</c> or <c>order-document</c>.</param>
/// <param name="EventId">The Stripe event id.</param>
/// <param name="EventType">The Stripe event type.</param>
/// <param name="Account">The merchant's account; null for the platform's own events.</param>
/// <param name="Livemode">The event's mode.</param>
/// <param name="ApiVersion">The event's API version.</param>
/// <param name="EventCreated">When Stripe created the event.</param>
/// <param name="ObjectType">The type of <c>data.object</c>.</param>
/// <param name="ObjectId">The id of <c>data.object</c>.</param>
/// <param name="ReceivedAt">When SyncWorker accepted the event.</param>
/// <param name="Sandbox">
/// True for a sandbox event (verified by a secret tagged <c>Mode: sandbox</c>), whose Stripe calls use
/// <c>Stripe:ApiKeys:Sandbox</c>. Written only when true; a header without it (every delivery of earlier versions) is read
/// as false.
/// </param>
public sealed record DeliveryFields(
    [property: JsonRequired] string Target,
    [property: JsonRequired] string DeliveryId,
    [property: JsonRequired] string Format,
    [property: JsonRequired] string Action,
    [property: JsonRequired] string Body,
    [property: JsonRequired] string EventId,
    [property: JsonRequired] string EventType,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Account,
    [property: JsonRequired] bool Livemode,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? ApiVersion,
    [property: JsonRequired] DateTimeOffset EventCreated,
    [property: JsonRequired] string ObjectType,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? ObjectId,
    [property: JsonRequired] DateTimeOffset ReceivedAt,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] bool Sandbox = false);

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
        // On RabbitMQ the header is read as the bytes RabbitMQ.Client received: MassTransit's transport headers would
        // first turn it into a string, which would only be encoded back to UTF-8 for the JSON reader.
        var fields = receiveContext is RabbitMqBasicConsumeContext rabbit
            && rabbit.Properties.Headers is { } raw
            && raw.TryGetValue(DeliveryHeaders.Delivery, out var value)
            && value is byte[] bytes
                ? bytes
                : HeaderBytes(receiveContext.TransportHeaders, DeliveryHeaders.Delivery);
        return new BodyConsumeContext(receiveContext, Deserialize(receiveContext.Body, fields, receiveContext.TransportHeaders, receiveContext.InputAddress));
    }

    /// <inheritdoc />
    public SerializerContext Deserialize(MessageBody body, Headers headers, Uri? destinationAddress = null)
    {
        ArgumentNullException.ThrowIfNull(headers);
        return Deserialize(body, HeaderBytes(headers, DeliveryHeaders.Delivery), headers, destinationAddress);
    }

    /// <inheritdoc />
    public MessageBody GetMessageBody(string text) => new StringMessageBody(text);

    private static Context Deserialize(MessageBody body, ReadOnlySpan<byte> fields, Headers headers, Uri? destinationAddress)
    {
        ArgumentNullException.ThrowIfNull(body);
        var delivery = DeliveryMessages.Read(fields, body.GetBytes());
        return new Context(body, delivery, new RawMessageContext(headers, destinationAddress!, RawSerializerOptions.Default));
    }

    private static ReadOnlySpan<byte> HeaderBytes(Headers headers, string name) =>
        headers.TryGetHeader(name, out var value) ? value switch
        {
            byte[] bytes => bytes,
            string text => System.Text.Encoding.UTF8.GetBytes(text),
            _ => [],
        } : [];

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

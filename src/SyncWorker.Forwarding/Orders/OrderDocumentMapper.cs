using System.Text.Json;
using SyncWorker.Contracts;
using SyncWorker.Forwarding.Delivery;

namespace SyncWorker.Forwarding.Orders;

/// <summary>
/// Builds the <see cref="OrderDocument"/> of a Checkout Session event from its raw payload (<c>data.object</c>), as
/// rendered in whatever API version the event carries. Optional fields that are missing, null or of an unexpected
/// kind become null; only a payload that is not a Checkout Session is refused.
/// </summary>
public static class OrderDocumentMapper
{
    private const string CheckoutSessionObject = "checkout.session";

    /// <summary>Maps <paramref name="evt"/> and the session's <paramref name="lineItems"/> to an order document.</summary>
    /// <exception cref="DeliveryFailedException">
    /// Permanent: the payload is not JSON, or its <c>data.object</c> is not a Checkout Session with an id.
    /// </exception>
    public static OrderDocument Map(StripeEventReceived evt, IReadOnlyList<OrderLineItem> lineItems)
    {
        ArgumentNullException.ThrowIfNull(evt);
        ArgumentNullException.ThrowIfNull(lineItems);

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(evt.Payload.Utf8);
        }
        catch (JsonException ex)
        {
            throw NotAnOrder(evt, "its payload is not valid JSON", ex);
        }

        using (document)
        {
            if (document.RootElement.GetObjectOrNull("data")?.GetObjectOrNull("object") is not { } session)
            {
                throw NotAnOrder(evt, "its payload has no data.object");
            }

            var objectType = session.GetStringOrNull("object");
            if (objectType != CheckoutSessionObject)
            {
                throw NotAnOrder(evt, objectType is null
                    ? "its data.object has no object type"
                    : $"its data.object is a {objectType}, not a {CheckoutSessionObject}");
            }

            if (session.GetStringOrNull("id") is not { Length: > 0 } sessionId)
            {
                throw NotAnOrder(evt, "its checkout.session has no id");
            }

            var details = session.GetObjectOrNull("customer_details");
            var totals = session.GetObjectOrNull("total_details");
            return new OrderDocument
            {
                OrderId = sessionId,
                Account = evt.Account,
                Livemode = evt.Livemode,
                Created = session.GetInt64OrNull("created") is { } created ? FromUnixSeconds(created) : null,
                SourceEvent = new OrderSourceEvent(evt.EventId, evt.Type, evt.ApiVersion, evt.Created),
                ClientReferenceId = session.GetStringOrNull("client_reference_id"),
                Customer = new OrderCustomer(
                    session.GetIdOrNull("customer"),
                    details?.GetStringOrNull("email"),
                    details?.GetStringOrNull("name"),
                    details?.GetStringOrNull("phone")),
                Shipping = ReadShipping(session),
                BillingAddress = ReadAddress(details?.GetObjectOrNull("address")),
                Currency = session.GetStringOrNull("currency"),
                Amounts = new OrderAmounts(
                    session.GetInt64OrNull("amount_subtotal"),
                    totals?.GetInt64OrNull("amount_tax"),
                    totals?.GetInt64OrNull("amount_shipping"),
                    totals?.GetInt64OrNull("amount_discount"),
                    session.GetInt64OrNull("amount_total")),
                PaymentStatus = session.GetStringOrNull("payment_status"),
                PaymentIntent = session.GetIdOrNull("payment_intent"),
                Metadata = ReadMetadata(session.GetObjectOrNull("metadata")),
                LineItems = lineItems,
            };
        }
    }

    /// <summary>
    /// The document of a later action (<see cref="OrderActions"/>) of order <paramref name="orderId"/>: the order's fields
    /// from its <c>order.paid</c> document as SyncWorker sent it (<paramref name="paidDocument"/>), with the action, the
    /// source event and the refund or dispute; when that document is not at hand (purged after <c>Store:RetentionDays</c>),
    /// only the order id, account, mode, currency and payment intent, the rest null and <c>line_items</c> empty.
    /// </summary>
    public static OrderDocument MapLaterAction(
        StripeEventReceived evt,
        OrderActionFacts facts,
        string orderId,
        RefundFacts? refund,
        ReadOnlySpan<byte> paidDocument)
    {
        ArgumentNullException.ThrowIfNull(evt);
        ArgumentNullException.ThrowIfNull(facts);
        ArgumentException.ThrowIfNullOrEmpty(orderId);
        var source = new OrderSourceEvent(evt.EventId, evt.Type, evt.ApiVersion, evt.Created);
        var order = (paidDocument.IsEmpty ? null : OrderDocument.FromJsonBytes(paidDocument)) is { } paid && paid.OrderId == orderId
            ? paid
            : new OrderDocument
            {
                OrderId = orderId,
                Account = evt.Account,
                Livemode = evt.Livemode,
                SourceEvent = source,
                Customer = new OrderCustomer(null, null, null, null),
                Currency = facts.Currency,
                Amounts = new OrderAmounts(null, null, null, null, null),
                PaymentIntent = facts.PaymentIntent,
            };
        return order with
        {
            Action = facts.Action,
            SourceEvent = source,
            Refund = facts.Action == OrderActions.Refunded
                ? new OrderRefund(
                    refund?.Id,
                    refund?.Amount,
                    facts.AmountRefunded,
                    facts.Currency,
                    facts.AmountRefunded is { } refunded && facts.ChargeAmount is { } charged && refunded >= charged)
                : null,
            Dispute = facts.Dispute,
        };
    }

    /// <summary>
    /// Shipping by API version, whichever is present (the newest first): <c>collected_information.shipping_details</c>
    /// (added in 2025-02-24.acacia, the only place from 2025-03-31.basil on), top-level <c>shipping_details</c>
    /// (2022-08-01 up to basil), top-level <c>shipping</c> (before 2022-08-01). Only the oldest carries a phone.
    /// </summary>
    private static OrderShipping? ReadShipping(JsonElement session)
    {
        var shipping = session.GetObjectOrNull("collected_information")?.GetObjectOrNull("shipping_details")
            ?? session.GetObjectOrNull("shipping_details")
            ?? session.GetObjectOrNull("shipping");
        return shipping is { } s
            ? new OrderShipping(s.GetStringOrNull("name"), s.GetStringOrNull("phone"), ReadAddress(s.GetObjectOrNull("address")))
            : null;
    }

    private static OrderAddress? ReadAddress(JsonElement? address) =>
        address is { } a
            ? new OrderAddress(
                a.GetStringOrNull("line1"),
                a.GetStringOrNull("line2"),
                a.GetStringOrNull("city"),
                a.GetStringOrNull("state"),
                a.GetStringOrNull("postal_code"),
                a.GetStringOrNull("country"))
            : null;

    /// <summary>Stripe metadata values are strings; anything else is kept as its JSON text, nulls are left out.</summary>
    private static Dictionary<string, string> ReadMetadata(JsonElement? metadata)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (metadata is not { } m)
        {
            return result;
        }

        foreach (var property in m.EnumerateObject())
        {
            switch (property.Value.ValueKind)
            {
                case JsonValueKind.String:
                    result[property.Name] = property.Value.GetString()!;
                    break;
                case JsonValueKind.Null:
                case JsonValueKind.Undefined:
                    break;
                default:
                    result[property.Name] = property.Value.GetRawText();
                    break;
            }
        }

        return result;
    }

    private static DateTimeOffset? FromUnixSeconds(long seconds) =>
        seconds >= DateTimeOffset.MinValue.ToUnixTimeSeconds() && seconds <= DateTimeOffset.MaxValue.ToUnixTimeSeconds()
            ? DateTimeOffset.FromUnixTimeSeconds(seconds)
            : null;

    private static DeliveryFailedException NotAnOrder(StripeEventReceived evt, string why, Exception? inner = null) =>
        new($"Event {evt.EventId} ({evt.Type}) cannot become an order document: {why}. Only Checkout Session events are sent to targets with Format order.",
            isPermanent: true,
            attempts: 0,
            statusCode: null,
            inner);
}

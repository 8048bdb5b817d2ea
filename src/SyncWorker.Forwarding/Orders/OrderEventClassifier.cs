using System.Text.Json;
using SyncWorker.Contracts;

namespace SyncWorker.Forwarding.Orders;

/// <summary>
/// Whether an event means "this order is paid: fulfil it".
/// </summary>
/// <param name="Fulfil">True when an order document should be sent.</param>
/// <param name="SessionId">
/// The Checkout Session id (<c>cs_…</c>) for Checkout Session events, fulfilled or not; null for other events or when the
/// payload has no session id.
/// </param>
/// <param name="Reason">Why, in a few words, for logs. Never contains customer data.</param>
public readonly record struct OrderClassification(bool Fulfil, string? SessionId, string Reason);

/// <summary>
/// Decides from a Checkout Session event whether its order is paid, following Stripe's fulfillment guide:
/// <c>checkout.session.completed</c> with <c>payment_status</c> <c>paid</c> or <c>no_payment_required</c> is fulfilled;
/// with <c>unpaid</c> (delayed payment methods such as ACH, SEPA or Bacs debit) it waits for
/// <c>checkout.session.async_payment_succeeded</c>, which is fulfilled; <c>checkout.session.async_payment_failed</c> and
/// <c>checkout.session.expired</c> are never fulfilled. Any other type is not an order event.
/// Reads only the payload fields it needs and never throws on an unexpected shape.
/// </summary>
public static class OrderEventClassifier
{
    /// <summary>The action of an order document: the order is paid and can be fulfilled.</summary>
    public const string PaidAction = "order.paid";

    /// <summary><c>checkout.session.completed</c>.</summary>
    public const string Completed = "checkout.session.completed";

    /// <summary><c>checkout.session.async_payment_succeeded</c>.</summary>
    public const string AsyncPaymentSucceeded = "checkout.session.async_payment_succeeded";

    /// <summary><c>checkout.session.async_payment_failed</c>.</summary>
    public const string AsyncPaymentFailed = "checkout.session.async_payment_failed";

    /// <summary><c>checkout.session.expired</c>.</summary>
    public const string Expired = "checkout.session.expired";

    private const string CheckoutSessionObject = "checkout.session";
    private const int MaxLoggedValueLength = 40;

    /// <summary>Classifies <paramref name="evt"/>; see the type's summary for the rules.</summary>
    public static OrderClassification Classify(StripeEventReceived evt)
    {
        ArgumentNullException.ThrowIfNull(evt);
        if (evt.Type is not (Completed or AsyncPaymentSucceeded or AsyncPaymentFailed or Expired))
        {
            return new OrderClassification(false, null, "not an order event");
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(evt.Payload.Utf8);
        }
        catch (JsonException)
        {
            return new OrderClassification(false, null, "payload is not valid JSON");
        }

        using (document)
        {
            var session = document.RootElement.GetObjectOrNull("data")?.GetObjectOrNull("object");
            if (session is not { } s)
            {
                return new OrderClassification(false, null, "payload has no data.object");
            }

            var objectType = s.GetStringOrNull("object");
            if (objectType is not null && objectType != CheckoutSessionObject)
            {
                return new OrderClassification(false, null, $"data.object is a {Shorten(objectType)}, not a checkout.session");
            }

            if (s.GetStringOrNull("id") is not { Length: > 0 } sessionId)
            {
                return new OrderClassification(false, null, "data.object has no id");
            }

            return evt.Type switch
            {
                AsyncPaymentSucceeded => new OrderClassification(true, sessionId, "async payment succeeded"),
                AsyncPaymentFailed => new OrderClassification(false, sessionId, "async payment failed: no fulfillment"),
                Expired => new OrderClassification(false, sessionId, "session expired: no fulfillment"),
                _ => ClassifyCompleted(sessionId, s),
            };
        }
    }

    private static OrderClassification ClassifyCompleted(string sessionId, JsonElement session)
    {
        if (!session.TryGetProperty("payment_status", out var status) || status.ValueKind == JsonValueKind.Null)
        {
            return new OrderClassification(false, sessionId, "payment_status missing: not fulfilled");
        }

        if (status.ValueKind != JsonValueKind.String)
        {
            return new OrderClassification(false, sessionId, "payment_status is not a string: not fulfilled");
        }

        return status.GetString() switch
        {
            "paid" => new OrderClassification(true, sessionId, "payment_status paid"),
            "no_payment_required" => new OrderClassification(true, sessionId, "payment_status no_payment_required"),
            "unpaid" => new OrderClassification(false, sessionId, $"payment_status unpaid: waiting for {AsyncPaymentSucceeded}"),
            var other => new OrderClassification(false, sessionId, $"payment_status '{Shorten(other!)}' is not paid: not fulfilled"),
        };
    }

    private static string Shorten(string value) =>
        value.Length <= MaxLoggedValueLength ? value : string.Concat(value.AsSpan(0, MaxLoggedValueLength), "…");
}

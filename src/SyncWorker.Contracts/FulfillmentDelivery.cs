using System.Text.Json.Serialization;

namespace SyncWorker.Contracts;

/// <summary>
/// One event to deliver to one fulfillment target, sent to that target's own queue by the dispatcher.
/// </summary>
/// <param name="Target">The target's configured name (<c>Fulfillment:Targets:N:Name</c>).</param>
/// <param name="DeliveryId">
/// The Standard Webhooks <c>webhook-id</c> and <c>Idempotency-Key</c>: stable for this target, order and action, so
/// every retry, replay or duplicate Stripe event of the same logical delivery carries the same id.
/// </param>
/// <param name="Format"><c>order</c> (order document) or <c>event</c> (the raw Stripe event).</param>
/// <param name="Action">
/// What the delivery means: <c>order.paid</c> for order documents; <c>order.refunded</c>, <c>order.disputed</c> or
/// <c>order.dispute_closed</c> for an order target's refund or dispute (carried with <see cref="Format"/> <c>event</c>
/// and the raw event as body, which the target's consumer turns into the order document); else the event type.
/// </param>
/// <param name="Event">The accepted Stripe event, with its raw payload.</param>
/// <param name="Document">
/// For an order delivery: the order document (compact JSON, the exact body to send), built once per order by the
/// dispatcher and shared by every order target, so one order costs one line-items listing from Stripe whatever the number
/// of targets. Null when the dispatcher could not build it (Stripe unreachable or refusing at that moment) and in
/// deliveries queued by earlier versions: the target's consumer then builds it itself, with the target's retries.
/// </param>
public sealed record FulfillmentDelivery(
    string Target,
    string DeliveryId,
    string Format,
    string Action,
    StripeEventReceived Event,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] JsonBytes? Document = null);

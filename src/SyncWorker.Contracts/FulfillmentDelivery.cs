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
/// <param name="Action">What the delivery means: <c>order.paid</c> for order documents, else the event type.</param>
/// <param name="Event">The accepted Stripe event, with its raw payload.</param>
public sealed record FulfillmentDelivery(
    string Target,
    string DeliveryId,
    string Format,
    string Action,
    StripeEventReceived Event);

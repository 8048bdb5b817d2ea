using SyncWorker.Contracts;
using SyncWorker.Forwarding.Consumers;
using SyncWorker.Forwarding.Targets;
using SyncWorker.Store;
using SyncWorker.Store.Ledger;

namespace SyncWorker.Forwarding.Orders;

/// <summary>
/// A later order action (<see cref="OrderActions"/>) made concrete for one target: its order, which instance it is, what
/// it reports, its <c>webhook-id</c>, and the <c>order.paid</c> document its order's fields come from. Null
/// <see cref="OrderId"/>: the charge belongs to no Checkout Session (<see cref="NotAnOrder"/> says why).
/// </summary>
public sealed record LaterAction(
    OrderActionFacts Facts,
    string? OrderId,
    string? Instance,
    long? Progress,
    RefundFacts? Refund,
    byte[]? PaidDocument,
    string? NotAnOrder)
{
    /// <summary>The Standard Webhooks <c>webhook-id</c> of this action to <paramref name="target"/>: from the same key as its ledger row.</summary>
    public string WebhookId(string target) =>
        DeliveryIds.For(target, OrderId ?? throw new InvalidOperationException("Not an order."), Instance is null ? Facts.Action : $"{Facts.Action}/{Instance}");
}

/// <summary>
/// Finds the order of a refund or dispute: through the payment intent recorded when SyncWorker saw the order paid
/// (<see cref="IOrderRegistry"/>), or, when it never did, by asking Stripe (<c>GET /v1/checkout/sessions?payment_intent=</c>
/// with <c>Stripe-Account</c>), recording the answer. Identifies the refund of a <c>charge.refunded</c> event (embedded in
/// events of API versions before 2022-11-15, else listed with <c>GET /v1/refunds?charge=</c>). Stripe calls go through the
/// target's preparation retries; their failures are the delivery's (transient: durable redelivery; permanent: dead letter).
/// </summary>
public sealed class LaterActionResolver(IStripeOrderLookup stripe, PreparationRetry retry, IOrderRegistry? orders = null)
{
    /// <summary>Resolves <paramref name="delivery"/> (a later action) for <paramref name="target"/>.</summary>
    public async Task<LaterAction> ResolveAsync(FulfillmentDelivery delivery, TargetRoute target, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(delivery);
        ArgumentNullException.ThrowIfNull(target);
        var evt = delivery.Event;
        var facts = OrderActionFacts.Read(evt, delivery.Action);
        if (facts.PaymentIntent is not { } paymentIntent)
        {
            return new LaterAction(facts, null, null, null, null, null, $"the {(facts.Dispute is null ? "charge" : "dispute")} has no payment intent, so it is no Checkout Session's");
        }

        var order = await FindRecordedAsync(paymentIntent, cancellationToken);
        var orderId = order?.OrderId;
        if (orderId is null)
        {
            orderId = await retry.ExecuteAsync(
                target.Options,
                async ct => await stripe.FindCheckoutSessionAsync(paymentIntent, evt.Account, evt.Environment, ct),
                cancellationToken);
            if (orderId is null)
            {
                return new LaterAction(facts, null, null, null, null, null, $"payment intent {paymentIntent} belongs to no Checkout Session");
            }

            await RecordAsync(new OrderRecord(orderId, paymentIntent, evt.Account, evt.Livemode), cancellationToken);
        }

        RefundFacts? refund = null;
        string? instance = facts.Dispute?.Id;
        if (facts.Action == OrderActions.Refunded)
        {
            var refunds = facts.Refunds;
            if (refunds is null && facts.ChargeId is { } charge)
            {
                refunds = await retry.ExecuteAsync(
                    target.Options,
                    async ct => await stripe.ListRefundsAsync(charge, evt.Account, evt.Environment, ct),
                    cancellationToken);
            }

            refund = refunds is null ? null : RefundFacts.Matching(refunds, facts.AmountRefunded);
            // Without a refund to name (none listed), the cumulative amount names the action: each new refund raises it.
            instance = refund?.Id ?? FormattableString.Invariant($"refunded-{facts.AmountRefunded ?? 0}");
        }

        return new LaterAction(facts, orderId, instance, facts.Action == OrderActions.Refunded ? facts.AmountRefunded : null, refund, order?.Document, null);
    }

    /// <summary>The recorded order, with its document when the order was found through Stripe before its payment was seen.</summary>
    private async Task<OrderRecord?> FindRecordedAsync(string paymentIntent, CancellationToken cancellationToken)
    {
        if (orders is null)
        {
            return null;
        }

        try
        {
            return await orders.FindByPaymentIntentAsync(paymentIntent, cancellationToken);
        }
        catch (StoreUnavailableException)
        {
            // Stripe answers instead; the ledger waits for the store before anything is sent.
            return null;
        }
    }

    private async Task RecordAsync(OrderRecord order, CancellationToken cancellationToken)
    {
        if (orders is null)
        {
            return;
        }

        try
        {
            await orders.RecordAsync(order, cancellationToken);
        }
        catch (StoreUnavailableException)
        {
            // Asked of Stripe again next time.
        }
    }

    /// <summary>
    /// Records a paid order and its <c>order.paid</c> document (<paramref name="json"/>, as sent) so its later actions find
    /// it; best effort (a store outage leaves them to Stripe's answer and a shorter document).
    /// </summary>
    public Task RecordPaidAsync(OrderDocument document, ReadOnlyMemory<byte> json, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(document);
        return RecordAsync(
            new OrderRecord(document.OrderId, document.PaymentIntent, document.Account, document.Livemode, document.SourceEvent.Id, json.ToArray()),
            cancellationToken);
    }

    /// <summary>The order's <c>order.paid</c> document as recorded (it may have been recorded after the lookup).</summary>
    public async Task<byte[]?> PaidDocumentAsync(string orderId, CancellationToken cancellationToken)
    {
        if (orders is null)
        {
            return null;
        }

        try
        {
            return (await orders.GetOrderAsync(orderId, cancellationToken))?.Document;
        }
        catch (StoreUnavailableException)
        {
            return null;
        }
    }
}

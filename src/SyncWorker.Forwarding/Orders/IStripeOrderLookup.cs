using SyncWorker.Contracts;
using SyncWorker.Forwarding.Delivery;

namespace SyncWorker.Forwarding.Orders;

/// <summary>
/// What a later order action (a refund or dispute of a charge) needs from Stripe's API when SyncWorker's own records do not
/// have it. Failures are <see cref="DeliveryFailedException"/>s, permanent or transient, as for line items.
/// </summary>
public interface IStripeOrderLookup
{
    /// <summary>
    /// The Checkout Session (<c>cs_…</c>) paid with <paramref name="paymentIntent"/>
    /// (<c>GET /v1/checkout/sessions?payment_intent=…</c>, with <c>Stripe-Account</c>), or null when none was: the charge
    /// is no order.
    /// </summary>
    Task<string?> FindCheckoutSessionAsync(string paymentIntent, string? account, StripeEnvironment environment, CancellationToken ct);

    /// <summary>Every refund of <paramref name="chargeId"/> (<c>GET /v1/refunds?charge=…</c>), newest first as Stripe lists them.</summary>
    Task<IReadOnlyList<RefundFacts>> ListRefundsAsync(string chargeId, string? account, StripeEnvironment environment, CancellationToken ct);
}

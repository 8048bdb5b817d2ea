namespace SyncWorker.Store.Ledger;

/// <summary>
/// The orders SyncWorker has seen paid: how a refund or dispute (which names a charge's payment intent) finds its Checkout
/// Session, and the <c>order.paid</c> document its later actions repeat the order's fields from. Throws
/// <see cref="StoreUnavailableException"/> when the store cannot be reached.
/// </summary>
public interface IOrderRegistry
{
    /// <summary>
    /// Records <paramref name="order"/>, or completes the row already there: a value given replaces nothing but a missing
    /// one (the first document recorded is the one kept).
    /// </summary>
    Task RecordAsync(OrderRecord order, CancellationToken cancellationToken);

    /// <summary>The order (<c>cs_…</c>), or null.</summary>
    Task<OrderRecord?> GetOrderAsync(string orderId, CancellationToken cancellationToken);

    /// <summary>The order paid with <paramref name="paymentIntent"/> (<c>pi_…</c>), or null.</summary>
    Task<OrderRecord?> FindByPaymentIntentAsync(string paymentIntent, CancellationToken cancellationToken);
}

/// <summary>An order SyncWorker has seen (a row of <c>orders</c>).</summary>
/// <param name="OrderId">The Checkout Session (<c>cs_…</c>).</param>
/// <param name="PaymentIntent">Its payment intent (<c>pi_…</c>); null for sessions without one (nothing to pay).</param>
/// <param name="Account">The merchant's account (<c>acct_…</c>); null for the app's own.</param>
/// <param name="Livemode">The mode.</param>
/// <param name="PaidEventId">The event that said it was paid; null when only looked up at Stripe.</param>
/// <param name="Document">The <c>order.paid</c> document (UTF-8 JSON) as sent; null when not built here or purged.</param>
public sealed record OrderRecord(
    string OrderId,
    string? PaymentIntent,
    string? Account,
    bool Livemode,
    string? PaidEventId = null,
    byte[]? Document = null);

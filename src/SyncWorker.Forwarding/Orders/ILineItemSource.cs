using SyncWorker.Contracts;
using SyncWorker.Forwarding.Delivery;

namespace SyncWorker.Forwarding.Orders;

/// <summary>Where order line items come from (Stripe's API in production).</summary>
public interface ILineItemSource
{
    /// <summary>
    /// Every line item of Checkout Session <paramref name="sessionId"/>, following pagination to the end.
    /// </summary>
    /// <param name="sessionId">The Checkout Session id (<c>cs_…</c>).</param>
    /// <param name="account">The installing merchant's account (<c>acct_…</c>), sent as <c>Stripe-Account</c>; null for the app's own account.</param>
    /// <param name="environment">
    /// The event's environment (<see cref="StripeEventReceived.Environment"/>): a live session can only be read with a live
    /// key, a test session with a test key, a sandbox's with the sandbox's key.
    /// </param>
    /// <param name="ct">Cancels the call; cancellation surfaces as <see cref="OperationCanceledException"/>, not as a failure.</param>
    /// <exception cref="DeliveryFailedException">
    /// Stripe refused the request (<see cref="DeliveryFailedException.IsPermanent"/>: a revoked key, a missing
    /// permission, an unknown session) or could not be reached (transient: network errors, timeouts, 429, 5xx).
    /// </exception>
    Task<IReadOnlyList<OrderLineItem>> GetLineItemsAsync(string sessionId, string? account, StripeEnvironment environment, CancellationToken ct);
}

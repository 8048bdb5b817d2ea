using Stripe;
using Stripe.Checkout;
using SyncWorker.Contracts;

namespace SyncWorker.Forwarding.Orders;

/// <summary>The order lookups of later actions, with the same client, key checks and error rules as line items.</summary>
public sealed partial class StripeLineItemSource : IStripeOrderLookup
{
    /// <inheritdoc />
    public Task<string?> FindCheckoutSessionAsync(string paymentIntent, string? account, StripeEnvironment environment, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(paymentIntent);
        return ReadAsync(
            $"looking up the Checkout Session of payment intent {paymentIntent} ({Owner(account, environment)})",
            "checkout_session_read",
            "Checkout Sessions",
            environment,
            async (client, options) =>
            {
                var sessions = await client.V1.Checkout.Sessions.ListAsync(
                    new SessionListOptions { PaymentIntent = paymentIntent, Limit = 1 }, options(account), ct).ConfigureAwait(false);
                return sessions.Data.FirstOrDefault()?.Id;
            },
            ct);
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<RefundFacts>> ListRefundsAsync(string chargeId, string? account, StripeEnvironment environment, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(chargeId);
        return ReadAsync<IReadOnlyList<RefundFacts>>(
            $"listing the refunds of charge {chargeId} ({Owner(account, environment)})",
            "charge_read",
            "charges",
            environment,
            async (client, options) =>
            {
                var refunds = new List<RefundFacts>();
                await foreach (var refund in client.V1.Refunds.ListAutoPagingAsync(new RefundListOptions { Charge = chargeId, Limit = PageSize }, options(account), ct))
                {
                    refunds.Add(new RefundFacts(refund.Id, refund.Amount, refund.Status, refund.Created));
                }

                return refunds;
            },
            ct);
    }

    private static string Owner(string? account, StripeEnvironment environment) =>
        $"{(account is null ? "the app's own account" : $"account {account}")}, {Describe(environment)}";
}

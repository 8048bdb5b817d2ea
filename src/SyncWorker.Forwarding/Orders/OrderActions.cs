using System.Text.Json;
using SyncWorker.Contracts;
using SyncWorker.Forwarding.Delivery;

namespace SyncWorker.Forwarding.Orders;

/// <summary>
/// The actions of an order's life that order targets receive, and the Stripe events they come from:
/// <list type="table">
/// <item><term><c>order.paid</c></term><description><c>checkout.session.completed</c> (paid) or <c>checkout.session.async_payment_succeeded</c>.</description></item>
/// <item><term><c>order.refunded</c></term><description><c>charge.refunded</c>: one per refund.</description></item>
/// <item><term><c>order.disputed</c></term><description><c>charge.dispute.created</c>: hold the shipment.</description></item>
/// <item><term><c>order.dispute_closed</c></term><description><c>charge.dispute.closed</c>: release or cancel.</description></item>
/// </list>
/// Every action but <c>order.paid</c> is a later action: it is about a charge, found to be an order's through its payment
/// intent, and is never delivered to a target before that order's <c>order.paid</c>.
/// </summary>
public static class OrderActions
{
    /// <summary><c>order.paid</c>.</summary>
    public const string Paid = OrderEventClassifier.PaidAction;

    /// <summary><c>order.refunded</c>.</summary>
    public const string Refunded = "order.refunded";

    /// <summary><c>order.disputed</c>.</summary>
    public const string Disputed = "order.disputed";

    /// <summary><c>order.dispute_closed</c>.</summary>
    public const string DisputeClosed = "order.dispute_closed";

    /// <summary><c>charge.refunded</c>.</summary>
    public const string ChargeRefunded = "charge.refunded";

    /// <summary><c>charge.dispute.created</c>.</summary>
    public const string DisputeCreated = "charge.dispute.created";

    /// <summary><c>charge.dispute.closed</c>.</summary>
    public const string DisputeClosedEvent = "charge.dispute.closed";

    /// <summary>The Stripe read permissions an order action needs (<see cref="SyncWorker.Contracts.OrderActionPermissions"/>).</summary>
    public static IReadOnlyList<string> PermissionsNeeded(string action) => SyncWorker.Contracts.OrderActionPermissions.For(action);

    private const string DisputeEventPrefix = "charge.dispute.";

    /// <summary>
    /// True for the events whose meaning for an order target is decided here rather than by sending the raw event:
    /// <c>charge.refunded</c> and every <c>charge.dispute.*</c> (of which only <c>created</c> and <c>closed</c> are
    /// actions; the others are nothing for order targets).
    /// </summary>
    public static bool IsOrderEvent(string eventType) =>
        eventType == ChargeRefunded || eventType.StartsWith(DisputeEventPrefix, StringComparison.Ordinal);

    /// <summary>The later action of <paramref name="eventType"/>, or null when it is none.</summary>
    public static string? LaterActionOf(string eventType) =>
        eventType switch
        {
            ChargeRefunded => Refunded,
            DisputeCreated => Disputed,
            DisputeClosedEvent => DisputeClosed,
            _ => null,
        };

    /// <summary>True for the actions that wait for <c>order.paid</c>.</summary>
    public static bool IsLaterAction(string action) => action is Refunded or Disputed or DisputeClosed;
}

/// <summary>What a <c>charge.refunded</c> or <c>charge.dispute.*</c> event says, as the order actions need it.</summary>
/// <param name="Action">The action (<see cref="OrderActions"/>).</param>
/// <param name="PaymentIntent">The payment intent (<c>pi_…</c>) of the charge; null when it has none (no Checkout payment).</param>
/// <param name="ChargeId">The charge (<c>ch_…</c>).</param>
/// <param name="Currency">The currency, lower case.</param>
/// <param name="ChargeAmount">The charge's amount (refunds).</param>
/// <param name="AmountRefunded">The cumulative amount refunded so far (refunds).</param>
/// <param name="Refunds">Refunds the event embeds (API versions before 2022-11-15), else null.</param>
/// <param name="Dispute">The dispute (dispute actions), else null.</param>
public sealed record OrderActionFacts(
    string Action,
    string? PaymentIntent,
    string? ChargeId,
    string? Currency,
    long? ChargeAmount,
    long? AmountRefunded,
    IReadOnlyList<RefundFacts>? Refunds,
    OrderDispute? Dispute)
{
    /// <summary>
    /// Reads <paramref name="evt"/>'s <c>data.object</c> (a charge for refunds, a dispute for disputes).
    /// </summary>
    /// <exception cref="DeliveryFailedException">Permanent: not JSON, or not the object the event type promises.</exception>
    public static OrderActionFacts Read(StripeEventReceived evt, string action)
    {
        ArgumentNullException.ThrowIfNull(evt);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(evt.Payload.Utf8);
        }
        catch (JsonException exception)
        {
            throw Refused(evt, "its payload is not valid JSON", exception);
        }

        using (document)
        {
            if (document.RootElement.GetObjectOrNull("data")?.GetObjectOrNull("object") is not { } data)
            {
                throw Refused(evt, "its payload has no data.object");
            }

            var expected = action == OrderActions.Refunded ? "charge" : "dispute";
            if (data.GetStringOrNull("object") != expected || data.GetStringOrNull("id") is not { Length: > 0 } id)
            {
                throw Refused(evt, $"its data.object is not a {expected} with an id");
            }

            if (action == OrderActions.Refunded)
            {
                return new OrderActionFacts(
                    action,
                    data.GetIdOrNull("payment_intent"),
                    id,
                    data.GetStringOrNull("currency"),
                    data.GetInt64OrNull("amount"),
                    data.GetInt64OrNull("amount_refunded"),
                    ReadRefunds(data.GetObjectOrNull("refunds")),
                    null);
            }

            var dispute = new OrderDispute(
                id,
                data.GetInt64OrNull("amount"),
                data.GetStringOrNull("currency"),
                data.GetStringOrNull("reason"),
                data.GetStringOrNull("status"),
                action == OrderActions.DisputeClosed ? OrderDispute.OutcomeOf(data.GetStringOrNull("status")) : OrderDispute.Hold);
            return new OrderActionFacts(action, data.GetIdOrNull("payment_intent"), data.GetIdOrNull("charge"), dispute.Currency, null, null, null, dispute);
        }
    }

    private static List<RefundFacts>? ReadRefunds(JsonElement? list)
    {
        if (list is not { } l || !l.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Array)
        {
            return null;
        }

        var refunds = new List<RefundFacts>();
        foreach (var item in data.EnumerateArray())
        {
            if (item.ValueKind == JsonValueKind.Object && item.GetStringOrNull("id") is { Length: > 0 } id)
            {
                refunds.Add(new RefundFacts(
                    id,
                    item.GetInt64OrNull("amount") ?? 0,
                    item.GetStringOrNull("status"),
                    item.GetInt64OrNull("created") is { } created ? DateTimeOffset.FromUnixTimeSeconds(created) : null));
            }
        }

        return refunds;
    }

    private static DeliveryFailedException Refused(StripeEventReceived evt, string why, Exception? inner = null) =>
        new($"Event {evt.EventId} ({evt.Type}) cannot become an order action: {why}.", isPermanent: true, attempts: 0, statusCode: null, inner);
}

/// <summary>One refund of a charge.</summary>
/// <param name="Id">The refund (<c>re_…</c>).</param>
/// <param name="Amount">Its amount.</param>
/// <param name="Status"><c>succeeded</c>, <c>pending</c>, <c>requires_action</c>, <c>failed</c> or <c>canceled</c>.</param>
/// <param name="Created">When it was created.</param>
public sealed record RefundFacts(string Id, long Amount, string? Status, DateTimeOffset? Created)
{
    /// <summary>
    /// The refund a <c>charge.refunded</c> event is about: the one whose creation brought the cumulative amount refunded
    /// (of the refunds that count: not failed or canceled, oldest first) to <paramref name="amountRefunded"/>; else the
    /// newest that counts; null when there is none.
    /// </summary>
    public static RefundFacts? Matching(IReadOnlyList<RefundFacts> refunds, long? amountRefunded)
    {
        ArgumentNullException.ThrowIfNull(refunds);
        // Stripe lists newest first; equal creation seconds keep that order reversed.
        var counting = refunds
            .Select((refund, index) => (refund, index))
            .Where(r => r.refund.Status is not ("failed" or "canceled"))
            .OrderBy(r => r.refund.Created ?? DateTimeOffset.MinValue)
            .ThenByDescending(r => r.index)
            .Select(r => r.refund)
            .ToList();
        long sum = 0;
        foreach (var refund in counting)
        {
            sum += refund.Amount;
            if (amountRefunded is { } total && sum == total)
            {
                return refund;
            }
        }

        return counting.Count == 0 ? null : counting[^1];
    }
}

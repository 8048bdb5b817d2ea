namespace SyncWorker.Contracts;

/// <summary>
/// The Stripe read permissions an order action needs to be prepared (its order document, the order it belongs to):
/// <c>checkout_session_read</c> for every action, and <c>charge_read</c> for refunds, <c>dispute_read</c> for disputes.
/// An install with one of them pending (requested by a newer app version, not yet approved by the merchant) holds the
/// action back until it is granted.
/// </summary>
public static class OrderActionPermissions
{
    /// <summary>Every permission some order action needs.</summary>
    public static readonly IReadOnlyList<string> All = ["checkout_session_read", "charge_read", "dispute_read"];

    /// <summary>The permissions <paramref name="action"/> (<c>order.paid</c>, <c>order.refunded</c>, …) needs; none for another action.</summary>
    public static IReadOnlyList<string> For(string action) => action switch
    {
        "order.paid" => ["checkout_session_read"],
        "order.refunded" => ["checkout_session_read", "charge_read"],
        "order.disputed" or "order.dispute_closed" => ["checkout_session_read", "dispute_read"],
        _ => [],
    };

    /// <summary>
    /// Why an install with <paramref name="pending"/> permissions holds order actions back, or null when it does not:
    /// shown by <c>installs list</c>.
    /// </summary>
    public static string? Waiting(IReadOnlyCollection<string>? pending)
    {
        var held = pending?.Where(All.Contains).ToList();
        return held is { Count: > 0 } ? $"order actions needing {string.Join(", ", held)} wait until the merchant grants it" : null;
    }
}

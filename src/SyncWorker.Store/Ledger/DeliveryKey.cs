namespace SyncWorker.Store.Ledger;

/// <summary>
/// What a ledger row stands for: one action of one order to one order target (per refund for <c>order.refunded</c>),
/// or one event to one event target. <see cref="Value"/> is the row's key; a delivery's <c>webhook-id</c> derives from it.
/// </summary>
public sealed record DeliveryKey
{
    /// <summary>The action of event targets' rows.</summary>
    public const string EventAction = "event";

    private DeliveryKey(string target, string subject, string action, string? actionInstance)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(target);
        ArgumentException.ThrowIfNullOrWhiteSpace(subject);
        ArgumentException.ThrowIfNullOrWhiteSpace(action);
        Target = target;
        Subject = subject;
        Action = action;
        ActionInstance = string.IsNullOrWhiteSpace(actionInstance) ? null : actionInstance;
        Value = ActionInstance is null ? $"{target}/{action}/{subject}" : $"{target}/{action}/{subject}/{ActionInstance}";
    }

    /// <summary>The target's name.</summary>
    public string Target { get; }

    /// <summary>The order (Checkout Session <c>cs_…</c>) or, for event targets, the event (<c>evt_…</c>).</summary>
    public string Subject { get; }

    /// <summary><c>order.paid</c>, <c>order.refunded</c>, …, or <see cref="EventAction"/>.</summary>
    public string Action { get; }

    /// <summary>Which instance of a repeatable action (the refund id of <c>order.refunded</c>); null for the others.</summary>
    public string? ActionInstance { get; }

    /// <summary>The row's key: <c>{target}/{action}/{subject}[/{instance}]</c>.</summary>
    public string Value { get; }

    /// <summary>An order action's key.</summary>
    public static DeliveryKey ForOrder(string target, string orderId, string action, string? actionInstance = null) =>
        new(target, orderId, action, actionInstance);

    /// <summary>An event target's key: one row per event.</summary>
    public static DeliveryKey ForEvent(string target, string eventId) => new(target, eventId, EventAction, null);

    /// <inheritdoc />
    public override string ToString() => Value;
}

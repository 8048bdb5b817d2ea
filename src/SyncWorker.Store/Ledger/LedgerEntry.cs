namespace SyncWorker.Store.Ledger;

/// <summary>One ledger row as read. <see cref="Progress"/>: see <see cref="DeliveryClaim.Progress"/>.</summary>
public sealed record LedgerEntry(
    string Key,
    string Target,
    string Subject,
    string Action,
    string? ActionInstance,
    string? Account,
    string EventId,
    string WebhookId,
    DeliveryState State,
    string? LeaseOwner,
    DateTimeOffset? LeaseUntil,
    int Attempts,
    int RepeatsSuppressed,
    int? LastStatus,
    string? LastError,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    DateTimeOffset? DeliveredAt,
    long? Progress = null);

/// <summary>One attempt at a delivery, as recorded.</summary>
public sealed record DeliveryAttemptRecord(
    int Attempt,
    string Owner,
    DateTimeOffset StartedAt,
    TimeSpan Duration,
    string Outcome,
    int? Status,
    string? Error);

/// <summary>What a forwarder asks for before it sends: the row to claim and what it is about.</summary>
/// <param name="Key">The row.</param>
/// <param name="EventId">The Stripe event being delivered now (the latest one for the row).</param>
/// <param name="WebhookId">The delivery's <c>webhook-id</c> (stable for the row).</param>
/// <param name="Account">The connected account (<c>acct_…</c>), if any.</param>
/// <param name="Progress">
/// What the action reports of its order's progress (for <c>order.refunded</c>: the cumulative amount refunded), kept on
/// the row to recognise stale events; null for other actions.
/// </param>
public sealed record DeliveryClaim(DeliveryKey Key, string EventId, string WebhookId, string? Account = null, long? Progress = null);

/// <summary>What became of a claim.</summary>
public enum ClaimOutcome
{
    /// <summary>This forwarder holds the lease: send.</summary>
    Claimed,

    /// <summary>Already delivered (or skipped, discarded): do not send; the repeat was counted on the row.</summary>
    AlreadyDone,

    /// <summary>Another forwarder holds an unexpired lease: do not send now; try again after <see cref="LedgerEntry.LeaseUntil"/>.</summary>
    HeldByAnother,
}

/// <summary>The outcome of <see cref="IDeliveryLedger.ClaimAsync"/> and the row as it stands.</summary>
public sealed record ClaimResult(ClaimOutcome Outcome, LedgerEntry Entry);

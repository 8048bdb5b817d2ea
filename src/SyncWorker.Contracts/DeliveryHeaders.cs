namespace SyncWorker.Contracts;

/// <summary>
/// Transport headers SyncWorker puts on target-queue messages: the durable retry count, the failure history, and
/// on dead letters why the delivery failed. Operators and the <c>dead-letters</c> verbs read them.
/// </summary>
public static class DeliveryHeaders
{
    /// <summary>Human-readable reason of the last failure (on dead letters).</summary>
    public const string FailureReason = "SyncWorker-Failure-Reason";

    /// <summary>Last HTTP status received, when there was one (on dead letters).</summary>
    public const string FailureStatus = "SyncWorker-Failure-Status";

    /// <summary>Attempts made in the last round of in-process retries (on dead letters).</summary>
    public const string FailureAttempts = "SyncWorker-Failure-Attempts";

    /// <summary><c>true</c> when retrying cannot help (on dead letters).</summary>
    public const string FailurePermanent = "SyncWorker-Failure-Permanent";

    /// <summary>ISO 8601 time of the failure (on dead letters).</summary>
    public const string FailedAt = "SyncWorker-Failed-At";

    /// <summary>How many durable (scheduled, in-RabbitMQ) redeliveries this delivery has had.</summary>
    public const string RedeliveryCount = "SyncWorker-Redelivery-Count";

    /// <summary>
    /// The failure history: one line per failed round (<c>ISO time | status | attempts | reason</c>), newest last,
    /// at most <see cref="MaxHistoryEntries"/> lines.
    /// </summary>
    public const string FailureHistory = "SyncWorker-Failure-History";

    /// <summary>
    /// ISO 8601 time the delivery first failed for good in process and went to wait in RabbitMQ: the start of its
    /// durable-retry clock. Kept by every redelivery; a replay removes it.
    /// </summary>
    public const string FirstFailedAt = "SyncWorker-First-Failed-At";

    /// <summary>
    /// Seconds of the durable-retry clock left out because the delivery sat in its target queue while a forwarder saw the
    /// target paused. Kept by every redelivery; a replay removes it.
    /// </summary>
    public const string PausedSeconds = "SyncWorker-Paused-Seconds";

    /// <summary>ISO 8601 time the delivery's current wait in a delay queue ends (it is back in its target queue from then).</summary>
    public const string WaitEndsAt = "SyncWorker-Wait-Ends-At";

    /// <summary>ISO 8601 time the delivery was last replayed from the dead-letter queue.</summary>
    public const string ReplayedAt = "SyncWorker-Replayed-At";

    // The delivery itself, in the format whose body is the bytes to post (SyncWorker.Messaging.DeliveryMessages).

    /// <summary>The target's name.</summary>
    public const string Target = "SyncWorker-Target";

    /// <summary>The delivery id (<c>webhook-id</c>, <c>Idempotency-Key</c>).</summary>
    public const string DeliveryId = "SyncWorker-Delivery-Id";

    /// <summary><c>order</c> or <c>event</c>.</summary>
    public const string Format = "SyncWorker-Format";

    /// <summary>What the delivery means: <c>order.paid</c>, else the event type.</summary>
    public const string Action = "SyncWorker-Action";

    /// <summary>What the body is: <c>event</c> (the Stripe event as Stripe signed it) or <c>order-document</c>.</summary>
    public const string Body = "SyncWorker-Body";

    /// <summary>The Stripe event id (<c>evt_…</c>).</summary>
    public const string EventId = "SyncWorker-Event-Id";

    /// <summary>The Stripe event type.</summary>
    public const string EventType = "SyncWorker-Event-Type";

    /// <summary>The merchant's account (<c>acct_…</c>); absent for the platform's own events.</summary>
    public const string Account = "SyncWorker-Account";

    /// <summary>The event's mode (boolean).</summary>
    public const string Livemode = "SyncWorker-Livemode";

    /// <summary>The event's API version; absent when it has none.</summary>
    public const string ApiVersion = "SyncWorker-Api-Version";

    /// <summary>When Stripe created the event (ISO 8601).</summary>
    public const string EventCreated = "SyncWorker-Event-Created";

    /// <summary>The type of the event's <c>data.object</c>.</summary>
    public const string ObjectType = "SyncWorker-Object-Type";

    /// <summary>The id of the event's <c>data.object</c>; absent when it has none.</summary>
    public const string ObjectId = "SyncWorker-Object-Id";

    /// <summary>When SyncWorker accepted the event (ISO 8601).</summary>
    public const string ReceivedAt = "SyncWorker-Received-At";

    /// <summary>Cap of <see cref="FailureHistory"/> lines kept.</summary>
    public const int MaxHistoryEntries = 30;
}

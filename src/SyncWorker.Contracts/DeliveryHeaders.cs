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

    /// <summary>
    /// <c>true</c> on a delivery replayed with <c>--force</c>: sent even when the delivery ledger records it as delivered.
    /// </summary>
    public const string ForceResend = "SyncWorker-Force-Resend";

    /// <summary>
    /// The delivery's fields as compact JSON (<c>target</c>, <c>deliveryId</c>, <c>format</c>, <c>action</c>, <c>body</c>,
    /// <c>eventId</c>, <c>eventType</c>, <c>account</c>, <c>livemode</c>, <c>apiVersion</c>, <c>eventCreated</c>,
    /// <c>objectType</c>, <c>objectId</c>, <c>receivedAt</c>, and <c>sandbox</c> only when true), in the format whose body is the bytes to post
    /// (SyncWorker.Messaging.DeliveryMessages).
    /// </summary>
    public const string Delivery = "SyncWorker-Delivery";

    /// <summary>Cap of <see cref="FailureHistory"/> lines kept.</summary>
    public const int MaxHistoryEntries = 30;
}

namespace SyncWorker.Forwarding.Delivery;

/// <summary>Sends one delivery to one fulfillment target, with that target's signing, retries and circuit breaker.</summary>
public interface ITargetSender
{
    /// <summary>
    /// POSTs <paramref name="delivery"/> to the target named <paramref name="targetName"/> and returns once a 2xx
    /// answered it.
    /// </summary>
    /// <exception cref="DeliveryFailedException">
    /// The target did not accept the delivery: <see cref="DeliveryFailedException.IsPermanent"/> for a refusal that
    /// retrying cannot change (a 4xx other than 408/429, a redirect), otherwise after the in-process retries were spent
    /// (5xx, 408, 429, timeouts, network errors) or while the target's circuit is open.
    /// </exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="ArgumentException">No target with that name was registered.</exception>
    Task<DeliveryReport> SendAsync(string targetName, TargetDelivery delivery, CancellationToken cancellationToken);
}

/// <summary>One delivery to one target: the body and the ids that stay the same on every attempt.</summary>
/// <param name="WebhookId">
/// The <c>webhook-id</c> header: the same on every attempt and every redelivery of this message to this target, so the
/// target can drop repeats.
/// </param>
/// <param name="IdempotencyKey">The <c>Idempotency-Key</c> header, for targets that deduplicate on it instead.</param>
/// <param name="Body">The UTF-8 JSON body; the same bytes are sent and signed on every attempt.</param>
/// <param name="Description">
/// What is delivered, for logs and failure messages, such as <c>order cs_123 (order.paid)</c>. Must not contain
/// personal data.
/// </param>
public sealed record TargetDelivery(string WebhookId, string IdempotencyKey, ReadOnlyMemory<byte> Body, string Description);

/// <summary>A delivery the target accepted.</summary>
/// <param name="StatusCode">The 2xx status the target answered.</param>
/// <param name="Attempts">Attempts made, the first included.</param>
/// <param name="Elapsed">Time from the first attempt to the answer, retry delays included.</param>
public sealed record DeliveryReport(int StatusCode, int Attempts, TimeSpan Elapsed)
{
    /// <summary>Each HTTP request of the round, oldest first (what the ledger records as its attempts).</summary>
    public IReadOnlyList<SentRequest> Requests { get; init; } = [];
}

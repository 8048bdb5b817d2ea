namespace SyncWorker.Contracts;

/// <summary>
/// Puts an accepted event on the queue. Returns only once the broker has confirmed the message into at
/// least one durable queue; throws when it cannot (broker down, blocked, unroutable), so the receiver
/// answers 503 and Stripe retries.
/// </summary>
public interface IStripeEventPublisher
{
    /// <summary>Publishes and waits for the broker's confirmation.</summary>
    Task PublishAsync(StripeEventReceived message, CancellationToken cancellationToken);

    /// <summary>
    /// Publishes and waits for the broker's confirmation. <paramref name="timeout"/> bounds the publish itself (no
    /// confirmation by then is a failure); <paramref name="cancellationToken"/> only ends the caller's wait (a request
    /// whose client went away): the publish is not a failure for that, and does not disturb other publishes. The default
    /// treats both alike, for publishers without shared state (the in-memory transport).
    /// </summary>
    async Task PublishAsync(StripeEventReceived message, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(timeout);
        await PublishAsync(message, bounded.Token).ConfigureAwait(false);
    }
}

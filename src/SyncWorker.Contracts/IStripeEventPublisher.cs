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
}

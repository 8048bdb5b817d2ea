using MassTransit;
using SyncWorker.Contracts;

namespace SyncWorker.Forwarding.Consumers;

/// <summary>
/// The one place a delivery waiting for a durable redelivery is sent to a delay queue (the seam where a different
/// publisher can take over the send).
/// </summary>
public interface IDelayQueueSender
{
    /// <summary>
    /// Declares the shared <paramref name="delayQueue"/> (once per process) as a durable queue with a fixed
    /// <c>x-message-ttl</c> of <paramref name="wait"/> that dead-letters expired messages through the default exchange with
    /// their own routing key, with its fanout exchange of the same name bound to it; then sends the message of
    /// <paramref name="context"/> there with <paramref name="returnQueue"/> (the target queue) as routing key, so it comes
    /// back to that queue: same message id, persistent, mandatory, confirmed, with <paramref name="headers"/> as transport
    /// headers. Returns once the broker confirmed the message into the queue, and
    /// throws otherwise (refused, returned, connection or channel lost, cancelled), so the caller never acknowledges a
    /// delivery that is not safely waiting.
    /// </summary>
    Task SendAsync(
        ConsumeContext<FulfillmentDelivery> context,
        string delayQueue,
        string returnQueue,
        TimeSpan wait,
        IReadOnlyDictionary<string, object> headers,
        CancellationToken cancellationToken);
}

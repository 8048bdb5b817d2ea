using MassTransit;
using SyncWorker.Contracts;
using SyncWorker.Messaging;

namespace SyncWorker.Forwarding.Consumers;

/// <summary>
/// <see cref="IDelayQueueSender"/> on the forward stage's <see cref="RabbitMqPublisher"/>, the same publisher that sends
/// deliveries to target queues: <see cref="BrokerAdmin"/> declares the shared delay queue, then the delivery is published
/// in <see cref="DeliveryMessages"/>' format (whatever format it was read in) to the delay queue's fanout exchange
/// (persistent, mandatory, confirmed) with the target queue as routing key (where the delay queue dead-letters it back to)
/// and the consumed message's id. A channel the send failed on (nack, return, timeout) is replaced, as for every other publish, so the
/// channel-level refusals seen after a cluster node loss do not stick to the redeliveries.
/// </summary>
public sealed class RabbitMqDelayQueueSender(BrokerAdmin admin, RabbitMqPublisher publisher) : IDelayQueueSender
{
    /// <inheritdoc />
    public async Task SendAsync(
        ConsumeContext<FulfillmentDelivery> context,
        string delayQueue,
        string returnQueue,
        TimeSpan wait,
        IReadOnlyDictionary<string, object> headers,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(headers);
        ArgumentException.ThrowIfNullOrEmpty(returnQueue);
        await admin.EnsureDelayQueueAsync(delayQueue, wait, cancellationToken);
        var messageId = context.MessageId ?? MessageIds.ForDelivery(context.Message.DeliveryId);
        try
        {
            await publisher.PublishAsync(
                DeliveryMessages.Create(delayQueue, context.Message, messageId, headers) with { RoutingKey = returnQueue },
                RabbitMqPublisher.ForwardTimeout,
                cancellationToken);
        }
        catch (EventNotQueuedException)
        {
            // Returned (the delay queue is gone) or refused: declare it again before the next try.
            admin.Forget(delayQueue);
            throw;
        }
    }
}

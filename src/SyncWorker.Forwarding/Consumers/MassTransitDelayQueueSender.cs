using MassTransit;
using SyncWorker.Contracts;
using SyncWorker.Messaging;

namespace SyncWorker.Forwarding.Consumers;

/// <summary>
/// <see cref="IDelayQueueSender"/> with <see cref="BrokerAdmin"/> (declaration) and MassTransit's send on the consume
/// context (a confirmed, mandatory publish to the delay queue's fanout exchange).
/// </summary>
public sealed class MassTransitDelayQueueSender(BrokerAdmin admin) : IDelayQueueSender
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
        await admin.EnsureDelayQueueAsync(delayQueue, returnQueue, wait, cancellationToken);
        var endpoint = await context.GetSendEndpoint(new Uri($"exchange:{delayQueue}?type=fanout&durable=true&autodelete=false"));
        await endpoint.Send(context.Message, send =>
        {
            send.MessageId = context.MessageId;
            send.Durable = true;
            foreach (var (name, value) in headers)
            {
                send.Headers.Set(name, value);
            }

            TransportSettings.MakeMandatory(send);
        }, cancellationToken);
    }
}

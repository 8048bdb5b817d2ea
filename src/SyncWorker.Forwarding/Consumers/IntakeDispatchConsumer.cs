using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using SyncWorker.Contracts;
using SyncWorker.Forwarding.Orders;
using SyncWorker.Forwarding.Targets;
using SyncWorker.Messaging;

namespace SyncWorker.Forwarding.Consumers;

/// <summary>
/// Consumes <see cref="Topology.IntakeQueue"/> and sends one <see cref="FulfillmentDelivery"/> to the queue of every
/// target that wants the event. Target-format rules: an order target receives an order document for a paid Checkout
/// Session (<c>checkout.session.completed</c> with <c>payment_status</c> paid or no_payment_required, or
/// <c>checkout.session.async_payment_succeeded</c>), nothing for the other Checkout Session lifecycle events, and the raw
/// event for any other subscribed type. The intake message is acknowledged only after every send was confirmed; a crash
/// in between redelivers it, and the repeated sends carry the same delivery ids.
/// On RabbitMQ the sends go through the forward stage's <see cref="RabbitMqPublisher"/> (persistent, mandatory, confirmed,
/// MassTransit's raw JSON; a channel a send failed on is replaced, so channel-level refusals after a node loss do not
/// use up the retries); on the in-memory transport through MassTransit.
/// </summary>
public sealed partial class IntakeDispatchConsumer(
    TargetRegistry targets,
    IServiceProvider services,
    ILogger<IntakeDispatchConsumer> logger,
    RabbitMqPublisher? publisher = null) : IConsumer<StripeEventReceived>
{
    private static readonly HashSet<string> CheckoutLifecycle = new(StringComparer.Ordinal)
    {
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
        "checkout.session.expired",
    };

    /// <inheritdoc />
    public async Task Consume(ConsumeContext<StripeEventReceived> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var message = context.Message;
        using var eventScope = EventScope(logger, message.EventId, message.Account);
        OrderClassification? classification = null;
        var sends = new List<Task>();

        foreach (var route in targets.Routes)
        {
            if (!route.Wants(message))
            {
                continue;
            }

            FulfillmentDelivery delivery;
            if (route.Options.Format == TargetOptions.OrderFormat && CheckoutLifecycle.Contains(message.Type))
            {
                classification ??= OrderEventClassifier.Classify(message);
                if (!classification.Value.Fulfil || classification.Value.SessionId is not { } sessionId)
                {
                    LogNotFulfilled(logger, message.EventId, message.Type, route.Name, classification.Value.Reason);
                    continue;
                }

                delivery = new FulfillmentDelivery(
                    route.Name,
                    DeliveryIds.For(route.Name, sessionId, OrderEventClassifier.PaidAction),
                    TargetOptions.OrderFormat,
                    OrderEventClassifier.PaidAction,
                    message);
            }
            else
            {
                delivery = new FulfillmentDelivery(
                    route.Name,
                    DeliveryIds.For(route.Name, message.EventId, message.Type),
                    TargetOptions.EventFormat,
                    message.Type,
                    message);
            }

            sends.Add(SendAsync(context, route, delivery));
        }

        if (sends.Count == 0)
        {
            LogNoTarget(logger, message.EventId, message.Type);
            return;
        }

        await Task.WhenAll(sends);
    }

    private async Task SendAsync(ConsumeContext context, TargetRoute route, FulfillmentDelivery delivery)
    {
        // On RabbitMQ the target queue is declared here with the configured queue type (a queue: address would declare it
        // without arguments, which a quorum queue refuses), then the send goes to its exchange, mandatory: a queue that
        // is missing all the same (deleted meanwhile) fails the send rather than losing it, and is declared again on retry.
        var admin = services.GetService<BrokerAdmin>();
        if (publisher is not null && admin is not null)
        {
            await admin.EnsureEndpointQueueAsync(route.QueueName, context.CancellationToken);
            try
            {
                // The consume span is the current activity: the publish span continues it (MT-Activity-Id).
                await publisher.PublishAsync(
                    RawJsonMessages.Delivery(route.QueueName, delivery, MessageIds.ForDelivery(delivery.DeliveryId)),
                    RabbitMqPublisher.ForwardTimeout,
                    context.CancellationToken);
            }
            catch (EventNotQueuedException)
            {
                // Returned (the queue is gone) or refused: declare it again on the retry.
                admin.Forget(route.QueueName);
                throw;
            }

            LogDispatched(logger, delivery.Event.EventId, delivery.Event.Type, route.Name, delivery.Format, delivery.DeliveryId);
            return;
        }

        var address = admin is not null
            ? new Uri($"exchange:{route.QueueName}?type=fanout&durable=true&autodelete=false")
            : new Uri($"queue:{route.QueueName}");
        if (admin is not null)
        {
            await admin.EnsureEndpointQueueAsync(route.QueueName, context.CancellationToken);
        }

        try
        {
            var endpoint = await context.GetSendEndpoint(address);
            await endpoint.Send(delivery, send =>
            {
                send.MessageId = MessageIds.ForDelivery(delivery.DeliveryId);
                send.Durable = true;
                TransportSettings.MakeMandatory(send);
            }, context.CancellationToken);
        }
        catch when (admin is not null)
        {
            admin.Forget(route.QueueName);
            throw;
        }

        LogDispatched(logger, delivery.Event.EventId, delivery.Event.Type, route.Name, delivery.Format, delivery.DeliveryId);
    }

    /// <summary>Every line logged while dispatching carries the event id and the account (null for the platform's own).</summary>
    private static readonly Func<ILogger, string, string?, IDisposable?> EventScope =
        LoggerMessage.DefineScope<string, string?>("Stripe event {EventId} of account {Account}");

    [LoggerMessage(EventId = 2001, Level = LogLevel.Information,
        Message = "Event {EventId} ({EventType}) queued for target {Target} as {Format} delivery {DeliveryId}")]
    private static partial void LogDispatched(ILogger logger, string eventId, string eventType, string target, string format, string deliveryId);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Information,
        Message = "Event {EventId} ({EventType}) is not fulfilled for target {Target}: {Reason}")]
    private static partial void LogNotFulfilled(ILogger logger, string eventId, string eventType, string target, string reason);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Debug, Message = "Event {EventId} ({EventType}) matches no target")]
    private static partial void LogNoTarget(ILogger logger, string eventId, string eventType);
}

using MassTransit;
using SyncWorker.Contracts;

namespace SyncWorker.Messaging;

/// <summary>
/// The publisher on the in-memory transport (on RabbitMQ, <see cref="RabbitMqStripeEventPublisher"/>; its header name is
/// this one). Publishes with MassTransit and returns only after the broker confirmed the message. The publish is mandatory,
/// so a message no queue takes is returned by RabbitMQ and surfaces here as an exception, never as a silent loss.
/// The message id is derived from the Stripe event id, so repeats of one event carry one id.
/// </summary>
public sealed class MassTransitStripeEventPublisher(IBus bus) : IStripeEventPublisher
{
    /// <summary>Header carrying the Stripe event id in its original form.</summary>
    public const string StripeEventIdHeader = "Stripe-Event-Id";

    /// <inheritdoc />
    public Task PublishAsync(StripeEventReceived message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        return bus.Publish(message, context =>
        {
            context.MessageId = MessageIds.ForStripeEvent(message.EventId);
            context.Durable = true;
            context.Mandatory = true;
            context.Headers.Set(StripeEventIdHeader, message.EventId);
        }, cancellationToken);
    }
}

using MassTransit;
using Microsoft.Extensions.Logging;
using SyncWorker.Contracts;
using SyncWorker.Forwarding.Delivery;
using SyncWorker.Forwarding.Orders;
using SyncWorker.Forwarding.Targets;

namespace SyncWorker.Forwarding.Consumers;

/// <summary>
/// Consumes one target's queue: builds the body (order document with line items from Stripe, or the raw event) and
/// posts it through the target's resilience pipeline. Success acknowledges the message; a transient failure once the
/// in-process retries are spent waits in RabbitMQ for a durable redelivery (<see cref="RedeliveryScheduler"/>); a
/// permanent one, or one whose schedule has ended, throws, and the message moves to the target's dead-letter queue with
/// the reason. Nothing is acknowledged away.
/// </summary>
public sealed partial class TargetDeliveryConsumer(
    TargetRegistry targets,
    ILineItemSource lineItems,
    ITargetSender sender,
    PreparationRetry preparationRetry,
    RedeliveryScheduler redelivery,
    TargetActivity activity,
    TargetCircuitStates circuits,
    ILogger<TargetDeliveryConsumer> logger) : IConsumer<FulfillmentDelivery>
{
    /// <inheritdoc />
    public async Task Consume(ConsumeContext<FulfillmentDelivery> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var delivery = context.Message;
        var evt = delivery.Event;
        if (targets.Find(delivery.Target) is not { } target)
        {
            throw new DeliveryFailedException(
                $"Target '{delivery.Target}' is not configured on this instance: add it back to Fulfillment:Targets, or leave the message in the dead-letter queue.",
                isPermanent: true,
                attempts: 0,
                statusCode: null);
        }

        using var scope = DeliveryScope(logger, delivery.DeliveryId, evt.EventId, evt.Account, delivery.Target,
            context.Headers.Get<int>(DeliveryHeaders.RedeliveryCount) ?? 0);

        // While the target's circuit is open the delivery waits here, unacknowledged, so RabbitMQ hands this instance no
        // more of the target's messages (they wait in its queue) and nothing is republished; one of them is the trial
        // when the break is over. Held past TargetCircuitStates.MaxHold, or released by a pause or shutdown, it goes on
        // and, the circuit still open, to the delay queue (a fresh message, which a quorum queue counts from zero).
        var trial = await circuits.WaitWhileOpenAsync(target.Name, TargetCircuitStates.MaxHold, context.CancellationToken);
        var targetTag = new KeyValuePair<string, object?>("target", target.Name);
        SyncWorkerTelemetry.InFlight.Add(1, targetTag);
        activity.Started(target.Name);
        string? failureReason = null;
        try
        {
            await DeliverAsync(context, target);
            var now = DateTimeOffset.UtcNow;
            SyncWorkerTelemetry.Deliveries.Add(1, targetTag, new KeyValuePair<string, object?>("outcome", "delivered"));
            SyncWorkerTelemetry.ReceiptToDelivery.Record(Math.Max(0, (now - evt.ReceivedAt).TotalSeconds), targetTag);
            SyncWorkerTelemetry.CreatedToDelivery.Record(Math.Max(0, (now - evt.Created).TotalSeconds), targetTag);
        }
        catch (Exception exception) when (!context.CancellationToken.IsCancellationRequested)
        {
            failureReason = exception is DeliveryFailedException known ? known.Message : exception.GetType().Name;
            if (exception is DeliveryFailedException { IsPermanent: false } failure)
            {
                var outcome = await redelivery.TryScheduleAsync(context, target, failure);
                if (outcome.Scheduled)
                {
                    SyncWorkerTelemetry.Deliveries.Add(1, targetTag, new KeyValuePair<string, object?>("outcome", "retry_scheduled"));
                    return;
                }

                if (outcome.Reason is { } why)
                {
                    failureReason = $"{failure.Message} {why}";
                    SyncWorkerTelemetry.Deliveries.Add(1, targetTag, new KeyValuePair<string, object?>("outcome", "dead_lettered"));
                    throw new DeliveryFailedException(failureReason, isPermanent: false, failure.Attempts, failure.StatusCode, failure);
                }
            }

            // Goes to the dead-letter queue (the error pipe adds the reason).
            SyncWorkerTelemetry.Deliveries.Add(1, targetTag, new KeyValuePair<string, object?>("outcome", "dead_lettered"));
            throw;
        }
        finally
        {
            if (trial)
            {
                circuits.TrialEnded(target.Name);
            }

            SyncWorkerTelemetry.InFlight.Add(-1, targetTag);
            activity.Ended(target.Name, failureReason);
        }
    }

    private async Task DeliverAsync(ConsumeContext<FulfillmentDelivery> context, TargetRoute target)
    {
        var delivery = context.Message;
        var evt = delivery.Event;
        ReadOnlyMemory<byte> body;
        string description;
        if (delivery.Format == TargetOptions.OrderFormat)
        {
            var sessionId = evt.ObjectId ?? throw new DeliveryFailedException(
                $"Event {evt.EventId} ({evt.Type}) has no data.object.id, so no order can be built.", isPermanent: true, attempts: 0, statusCode: null);
            description = $"order {sessionId} ({delivery.Action})";
            if (delivery.Document is { } document)
            {
                // Built once by the dispatcher and shared by every order target of this order.
                body = document.Utf8;
            }
            else
            {
                // A delivery without a document (the dispatcher could not read Stripe, or an earlier version queued it).
                var items = await preparationRetry.ExecuteAsync(
                    target.Options,
                    async ct => await lineItems.GetLineItemsAsync(sessionId, evt.Account, evt.Livemode, ct),
                    context.CancellationToken);
                body = OrderDocumentMapper.Map(evt, items).ToJsonBytes();
            }
        }
        else
        {
            body = evt.Payload.Utf8;
            description = $"event {evt.EventId} ({evt.Type})";
        }

        await sender.SendAsync(delivery.Target, new TargetDelivery(delivery.DeliveryId, delivery.DeliveryId, body, description), context.CancellationToken);
    }

    /// <summary>Every line logged while delivering (the HTTP client's and Polly's included) carries these.</summary>
    private static readonly Func<ILogger, string, string, string?, string, int, IDisposable?> DeliveryScope =
        LoggerMessage.DefineScope<string, string, string?, string, int>(
            "Delivery {DeliveryId} of Stripe event {EventId} (account {Account}) to target {Target}, redelivery {Redelivery}");
}

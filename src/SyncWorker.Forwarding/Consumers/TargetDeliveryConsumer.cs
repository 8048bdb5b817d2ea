using MassTransit;
using Microsoft.Extensions.Logging;
using SyncWorker.Contracts;
using SyncWorker.Forwarding.Delivery;
using SyncWorker.Forwarding.Ledger;
using SyncWorker.Forwarding.Orders;
using SyncWorker.Forwarding.Targets;
using SyncWorker.Store.Ledger;

namespace SyncWorker.Forwarding.Consumers;

/// <summary>
/// Consumes one target's queue: builds the body (order document with line items from Stripe, or the raw event) and
/// posts it through the target's resilience pipeline. Success acknowledges the message; a transient failure once the
/// in-process retries are spent waits in RabbitMQ for a durable redelivery (<see cref="RedeliveryScheduler"/>); a
/// permanent one, or one whose schedule has ended, throws, and the message moves to the target's dead-letter queue with
/// the reason. Nothing is acknowledged away. With the delivery ledger (<see cref="DeliveryLedgerGate"/>; every
/// forwarding instance of the host has it) the row of the delivery is claimed first: a delivery already delivered is
/// acknowledged without a POST and counted as <c>duplicate_suppressed</c>; one another forwarder is sending waits for it
/// (and is then a duplicate, or is sent if that forwarder gave it up); the outcome is recorded after.
/// </summary>
public sealed partial class TargetDeliveryConsumer(
    TargetRegistry targets,
    ILineItemSource lineItems,
    ITargetSender sender,
    PreparationRetry preparationRetry,
    RedeliveryScheduler redelivery,
    TargetActivity activity,
    TargetCircuitStates circuits,
    ILogger<TargetDeliveryConsumer> logger,
    DeliveryLedgerGate? ledger = null) : IConsumer<FulfillmentDelivery>
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
        var key = ledger is null ? null : DeliveryLedgerGate.KeyOf(delivery);
        HeldClaim? claim = null;
        if (key is not null && (claim = await ClaimAsync(context, target, key, targetTag)) is null)
        {
            if (trial)
            {
                circuits.TrialEnded(target.Name);
            }

            return;
        }

        SyncWorkerTelemetry.InFlight.Add(1, targetTag);
        activity.Started(target.Name);
        string? failureReason = null;
        var started = DateTimeOffset.UtcNow;
        var renewal = claim is null ? null : ledger!.KeepLeased(claim);
        DeliveryReport? answered = null;
        try
        {
            var report = answered = await DeliverAsync(context, target);
            if (claim is not null)
            {
                await renewal!.DisposeAsync();
                renewal = null;
                // Recorded before the acknowledgement: a copy of this delivery arriving later is then a duplicate.
                await ledger!.FinishAsync(claim, DeliveryState.Delivered, started, report.Attempts, report.StatusCode, null, context.CancellationToken);
            }

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
                    await RecordFailureAsync(claim, DeliveryState.Retrying, started, failure, failure.Message, context.CancellationToken);
                    SyncWorkerTelemetry.Deliveries.Add(1, targetTag, new KeyValuePair<string, object?>("outcome", "retry_scheduled"));
                    return;
                }

                if (outcome.Reason is { } why)
                {
                    failureReason = $"{failure.Message} {why}";
                    await RecordFailureAsync(claim, DeliveryState.DeadLettered, started, failure, failureReason, context.CancellationToken);
                    SyncWorkerTelemetry.Deliveries.Add(1, targetTag, new KeyValuePair<string, object?>("outcome", "dead_lettered"));
                    throw new DeliveryFailedException(failureReason, isPermanent: false, failure.Attempts, failure.StatusCode, failure);
                }
            }

            // Goes to the dead-letter queue (the error pipe adds the reason).
            await RecordFailureAsync(claim, DeliveryState.DeadLettered, started, exception as DeliveryFailedException, failureReason, context.CancellationToken);
            SyncWorkerTelemetry.Deliveries.Add(1, targetTag, new KeyValuePair<string, object?>("outcome", "dead_lettered"));
            throw;
        }
        catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested && claim is not null)
        {
            // Shutdown: the message goes back to its queue. Once the target has answered 2xx the row is recorded delivered
            // (its next copy is a duplicate); before that it is given back, so its next copy is sent without waiting for the lease.
            if (answered is { } report)
            {
                await ledger!.RecordDeliveredAsync(claim, started, report.Attempts, report.StatusCode);
            }
            else
            {
                await ledger!.ReleaseAsync(claim, "handed back at shutdown");
            }

            throw;
        }
        finally
        {
            if (renewal is not null)
            {
                await renewal.DisposeAsync();
            }

            if (trial)
            {
                circuits.TrialEnded(target.Name);
            }

            SyncWorkerTelemetry.InFlight.Add(-1, targetTag);
            activity.Ended(target.Name, failureReason);
        }
    }

    /// <summary>
    /// Claims the delivery's ledger row. Null when it must not be sent now: already delivered (acknowledged, counted as
    /// <c>duplicate_suppressed</c>), or held by another forwarder past <see cref="DeliveryLedgerGate.HeldPollLimit"/>
    /// (deferred to a delay queue until that forwarder's lease ends).
    /// </summary>
    private async Task<HeldClaim?> ClaimAsync(ConsumeContext<FulfillmentDelivery> context, TargetRoute target, DeliveryKey key, KeyValuePair<string, object?> targetTag)
    {
        var gate = ledger!;
        var force = context.Headers.Get<string>(DeliveryHeaders.ForceResend) is "true";
        var polling = DateTimeOffset.UtcNow;
        while (true)
        {
            var (claim, held) = await gate.ClaimAsync(key, context.Message, force, context.CancellationToken);
            switch (claim.Outcome)
            {
                case ClaimOutcome.Claimed:
                    if (force && claim.Entry.DeliveredAt is { } deliveredAt)
                    {
                        LogForced(logger, key.Value, deliveredAt);
                    }

                    return held;
                case ClaimOutcome.AlreadyDone:
                    SyncWorkerTelemetry.Deliveries.Add(1, targetTag, new KeyValuePair<string, object?>("outcome", "duplicate_suppressed"));
                    LogDuplicate(logger, key.Value, context.Message.Event.EventId, claim.Entry.State, claim.Entry.RepeatsSuppressed);
                    return null;
            }

            // Another forwarder is sending it (a duplicate event dispatched at the same moment, or a copy redelivered
            // after that forwarder died): wait for its outcome, briefly here, then in a delay queue until its lease ends.
            var leaseEnds = claim.Entry.LeaseUntil ?? DateTimeOffset.UtcNow;
            if (DateTimeOffset.UtcNow - polling >= DeliveryLedgerGate.HeldPollLimit)
            {
                var wait = leaseEnds - DateTimeOffset.UtcNow + TimeSpan.FromSeconds(1);
                if (await redelivery.TryDeferAsync(context, target, wait, $"held by forwarder {claim.Entry.LeaseOwner} until {leaseEnds:O}"))
                {
                    return null;
                }
            }

            await Task.Delay(TimeSpan.FromSeconds(1), context.CancellationToken);
        }
    }

    private Task RecordFailureAsync(HeldClaim? claim, DeliveryState state, DateTimeOffset started, DeliveryFailedException? failure, string? reason, CancellationToken cancellationToken) =>
        claim is null
            ? Task.CompletedTask
            : ledger!.FinishAsync(claim, state, started, failure?.Attempts ?? 1, failure?.StatusCode, reason, cancellationToken);

    private async Task<DeliveryReport> DeliverAsync(ConsumeContext<FulfillmentDelivery> context, TargetRoute target)
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

        return await sender.SendAsync(delivery.Target, new TargetDelivery(delivery.DeliveryId, delivery.DeliveryId, body, description), context.CancellationToken);
    }

    [LoggerMessage(EventId = 2405, Level = LogLevel.Information,
        Message = "Delivery {Key} (event {EventId}) is not sent again: the ledger has it {State} ({Repeats} repeat(s) suppressed so far)")]
    private static partial void LogDuplicate(ILogger logger, string key, string eventId, DeliveryState state, int repeats);

    [LoggerMessage(EventId = 2406, Level = LogLevel.Warning,
        Message = "Delivery {Key} is sent again although it was delivered at {DeliveredAt:O}: replayed with --force")]
    private static partial void LogForced(ILogger logger, string key, DateTimeOffset deliveredAt);

    /// <summary>Every line logged while delivering (the HTTP client's and Polly's included) carries these.</summary>
    private static readonly Func<ILogger, string, string, string?, string, int, IDisposable?> DeliveryScope =
        LoggerMessage.DefineScope<string, string, string?, string, int>(
            "Delivery {DeliveryId} of Stripe event {EventId} (account {Account}) to target {Target}, redelivery {Redelivery}");
}

using MassTransit;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SyncWorker.Contracts;
using SyncWorker.Forwarding.Delivery;
using SyncWorker.Forwarding.Installs;
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
    LaterActionResolver laterActions,
    IOptions<OrderOptions> orderOptions,
    ILogger<TargetDeliveryConsumer> logger,
    DeliveryLedgerGate? ledger = null,
    IHostApplicationLifetime? lifetime = null,
    InstallState? installs = null) : IConsumer<FulfillmentDelivery>
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

        if (installs is not null && installs.IsUninstalled(evt.Account, evt.Livemode))
        {
            await SkipUninstalledAsync(context, delivery, target);
            return;
        }

        if (target.IsDiscarding)
        {
            await DiscardAsync(context, delivery, target);
            return;
        }

        // While the target's circuit is open the delivery waits here, unacknowledged, so RabbitMQ hands this instance no
        // more of the target's messages (they wait in its queue) and nothing is republished; one of them is the trial
        // when the break is over. Held past TargetCircuitStates.MaxHold, or released by a pause or shutdown, it goes on
        // and, the circuit still open, to the delay queue (a fresh message, which a quorum queue counts from zero).
        var trial = await circuits.WaitWhileOpenAsync(target.Name, TargetCircuitStates.MaxHold, context.CancellationToken);
        var targetTag = new KeyValuePair<string, object?>("target", target.Name);
        HeldClaim? claim = null;
        string? failureReason = null;
        var counted = false;
        var started = DateTimeOffset.UtcNow;
        IAsyncDisposable? renewal = null;
        DeliveryReport? answered = null;
        try
        {
            // A refund or dispute: find its order (or learn it is none) before anything else, since the row is the order's.
            LaterAction? later = null;
            // Recognised by its action (an event target's action is the event type, never an order.* name).
            if (OrderActions.IsLaterAction(delivery.Action))
            {
                later = await laterActions.ResolveAsync(delivery, target, context.CancellationToken);
                if (later.OrderId is null)
                {
                    SyncWorkerTelemetry.Deliveries.Add(1, targetTag, new KeyValuePair<string, object?>("outcome", "not_an_order"));
                    LogNotAnOrder(logger, evt.EventId, evt.Type, later.NotAnOrder ?? "no order");
                    return;
                }

                delivery = delivery with { DeliveryId = later.WebhookId(target.Name) };
            }

            var key = ledger is null ? null : later is null ? DeliveryLedgerGate.KeyOf(delivery) : DeliveryLedgerGate.KeyOf(delivery, later);
            LedgerEntry? row = null;
            if (key is not null)
            {
                (claim, row) = await ClaimAsync(context, delivery, target, key, later?.Progress, targetTag);
                if (claim is null)
                {
                    return;
                }
            }

            if (later is not null && claim is not null)
            {
                // Unless it is ready, ReadyAsync ends the lease itself (waiting, skipped or dead-lettered, with no attempt).
                var held = claim;
                claim = null;
                if (!await ReadyAsync(context, target, later, held, row!, targetTag))
                {
                    return;
                }

                claim = held;
            }

            // Nothing is allocated on the common path: most installs have no permission pending.
            if (claim is not null && target.Options.Format == TargetOptions.OrderFormat && installs is not null
                && installs.PendingPermissions(evt.Account, evt.Livemode) is { Count: > 0 } pending
                && OrderActions.PermissionsNeeded(delivery.Action).Where(pending.Contains).ToList() is { Count: > 0 } missing)
            {
                // Unless it has waited too long, WaitForPermissionAsync ends the lease itself (waiting, or dead-lettered).
                var held = claim;
                claim = null;
                await WaitForPermissionAsync(context, target, held, row!, missing, targetTag);
                return;
            }

            SyncWorkerTelemetry.InFlight.Add(1, targetTag);
            activity.Started(target.Name);
            counted = true;
            started = DateTimeOffset.UtcNow;
            renewal = claim is null ? null : ledger!.KeepLeased(claim);
            var report = answered = await DeliverAsync(context, delivery, target, later);
            if (claim is not null)
            {
                await renewal!.DisposeAsync();
                renewal = null;
                // Recorded before the acknowledgement: a copy of this delivery arriving later is then a duplicate.
                await ledger!.FinishAsync(claim, DeliveryState.Delivered, started, report.Requests, report.StatusCode, null, context.CancellationToken);
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
                await ledger!.RecordDeliveredAsync(claim, started, report.Requests, report.StatusCode);
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

            if (counted)
            {
                SyncWorkerTelemetry.InFlight.Add(-1, targetTag);
                activity.Ended(target.Name, failureReason);
            }
        }
    }

    /// <summary>
    /// Whether a later action may be sent now (its row claimed). Not before its order's <c>order.paid</c> reached this
    /// target: until then the row is <c>waiting</c> and the message waits in a delay queue, and after
    /// <c>Orders:WaitForPaymentHours</c> it is dead-lettered with that reason. Not when it is stale (it says less than what
    /// the target was already sent: a smaller cumulative amount refunded, or a dispute opened after its close was sent):
    /// the row is <c>skipped</c>. Unless it returns true, the row's lease is ended here.
    /// </summary>
    private async Task<bool> ReadyAsync(ConsumeContext<FulfillmentDelivery> context, TargetRoute target, LaterAction later, HeldClaim claim, LedgerEntry row, KeyValuePair<string, object?> targetTag)
    {
        var gate = ledger!;
        var orderId = later.OrderId!;
        var action = later.Facts.Action;
        IReadOnlyList<LedgerEntry> rows;
        try
        {
            rows = await gate.OrderRowsAsync(orderId, context.CancellationToken);
        }
        catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested)
        {
            await gate.ReleaseAsync(claim, "handed back at shutdown");
            throw;
        }

        var mine = rows.Where(r => r.Target == target.Name && r.Key != claim.Key.Value).ToList();
        if (!mine.Any(r => r.Action == OrderActions.Paid && r.State == DeliveryState.Delivered))
        {
            var waited = DateTimeOffset.UtcNow - row.CreatedAt;
            var limit = orderOptions.Value.WaitForPayment;
            if (waited >= limit)
            {
                var expired = FormattableString.Invariant(
                    $"{action} of order {orderId} waited {waited.TotalHours:0.#} h for the order's order.paid to reach target {target.Name}, longer than Orders:WaitForPaymentHours ({limit.TotalHours:0.#} h): feed the order's payment event (backfill checkout.session.completed), then replay this delivery.");
                await gate.EndAsync(claim, DeliveryState.DeadLettered, expired, context.CancellationToken);
                throw new DeliveryFailedException(expired, isPermanent: true, attempts: 0, statusCode: null);
            }

            var reason = $"waiting for order.paid of order {orderId} to reach target {target.Name}";
            await gate.EndAsync(claim, DeliveryState.Waiting, reason, context.CancellationToken);
            var wait = waited < TimeSpan.FromMinutes(1) ? TimeSpan.FromSeconds(5) : waited < TimeSpan.FromMinutes(10) ? TimeSpan.FromSeconds(30) : TimeSpan.FromMinutes(5);
            if (await redelivery.TryDeferAsync(context, target, wait, reason))
            {
                SyncWorkerTelemetry.Deliveries.Add(1, targetTag, new KeyValuePair<string, object?>("outcome", "waiting"));
                return false;
            }

            throw new DeliveryFailedException($"{reason}, and there is no delay queue to wait in (RabbitMQ is needed).", isPermanent: false, attempts: 0, statusCode: null);
        }

        string? stale = null;
        if (action == OrderActions.Refunded && later.Progress is { } refunded
            && mine.Where(r => r.Action == OrderActions.Refunded && r.State == DeliveryState.Delivered && r.Progress is not null).Max(r => r.Progress) is { } sent
            && sent >= refunded)
        {
            stale = FormattableString.Invariant($"stale: it reports {refunded} refunded, and target {target.Name} was already sent {sent}");
        }
        else if (action == OrderActions.Disputed
            && mine.Any(r => r.Action == OrderActions.DisputeClosed && r.ActionInstance == later.Instance && r.State == DeliveryState.Delivered))
        {
            stale = $"stale: dispute {later.Instance} was already sent to target {target.Name} as closed";
        }

        if (stale is null)
        {
            return true;
        }

        await gate.EndAsync(claim, DeliveryState.Skipped, stale, context.CancellationToken);
        SyncWorkerTelemetry.Deliveries.Add(1, targetTag, new KeyValuePair<string, object?>("outcome", "skipped"));
        LogStale(logger, claim.Key.Value, context.Message.Event.EventId, stale);
        return false;
    }

    /// <summary>
    /// An order action whose Stripe read permission the merchant has not granted yet (pending in its install: a newer app
    /// version asks for it): recorded <c>waiting</c> with that reason and deferred to a delay queue, checked again every
    /// few minutes, so it goes out once <c>apps.install.updated</c> or <c>installs sync</c> shows it granted; dead-lettered
    /// with the reason after <c>Orders:WaitForPaymentHours</c>.
    /// </summary>
    private async Task WaitForPermissionAsync(
        ConsumeContext<FulfillmentDelivery> context, TargetRoute target, HeldClaim claim, LedgerEntry row, IReadOnlyList<string> missing, KeyValuePair<string, object?> targetTag)
    {
        var evt = context.Message.Event;
        var permissions = string.Join(", ", missing);
        var waited = DateTimeOffset.UtcNow - row.CreatedAt;
        var limit = orderOptions.Value.WaitForPayment;
        if (waited >= limit)
        {
            var expired = FormattableString.Invariant(
                $"waited {waited.TotalHours:0.#} h for account {evt.Account} to grant {permissions} (pending in its install), longer than Orders:WaitForPaymentHours ({limit.TotalHours:0.#} h): ask the merchant to approve the app's new permissions, then replay this delivery.");
            await ledger!.EndAsync(claim, DeliveryState.DeadLettered, expired, context.CancellationToken);
            throw new DeliveryFailedException(expired, isPermanent: true, attempts: 0, statusCode: null);
        }

        var reason = $"waiting for account {evt.Account} to grant {permissions} (pending in its install: the merchant has not approved the app's new permissions yet)";
        await ledger!.EndAsync(claim, DeliveryState.Waiting, reason, context.CancellationToken);
        LogWaitingForPermission(logger, evt.EventId, target.Name, evt.Account ?? "", permissions);
        var wait = waited < TimeSpan.FromMinutes(10) ? TimeSpan.FromSeconds(30) : TimeSpan.FromMinutes(5);
        if (await redelivery.TryDeferAsync(context, target, wait, reason))
        {
            SyncWorkerTelemetry.Deliveries.Add(1, targetTag, new KeyValuePair<string, object?>("outcome", "waiting"));
            return;
        }

        throw new DeliveryFailedException($"{reason}, and there is no delay queue to wait in (RabbitMQ is needed).", isPermanent: false, attempts: 0, statusCode: null);
    }

    [LoggerMessage(EventId = 2411, Level = LogLevel.Information,
        Message = "Event {EventId} waits for target {Target}: account {WaitingAccount} has not granted {Permissions} yet (pending in its install)")]
    private static partial void LogWaitingForPermission(ILogger logger, string eventId, string target, string waitingAccount, string permissions);

    /// <summary>
    /// Claims the delivery's ledger row. Null when it must not be sent now: already delivered (acknowledged, counted as
    /// <c>duplicate_suppressed</c>), or held by another forwarder past <see cref="DeliveryLedgerGate.HeldPollLimit"/>
    /// (deferred to a delay queue until that forwarder's lease ends).
    /// </summary>
    private async Task<(HeldClaim? Claim, LedgerEntry? Row)> ClaimAsync(
        ConsumeContext<FulfillmentDelivery> context,
        FulfillmentDelivery delivery,
        TargetRoute target,
        DeliveryKey key,
        long? progress,
        KeyValuePair<string, object?> targetTag)
    {
        var gate = ledger!;
        var force = context.Headers.Get<string>(DeliveryHeaders.ForceResend) is "true";
        var polling = DateTimeOffset.UtcNow;
        while (true)
        {
            var (claim, held) = await gate.ClaimAsync(key, delivery, force, progress, context.CancellationToken);
            switch (claim.Outcome)
            {
                case ClaimOutcome.Claimed:
                    if (force && claim.Entry.DeliveredAt is { } deliveredAt)
                    {
                        LogForced(logger, key.Value, deliveredAt);
                    }

                    return (held, claim.Entry);
                case ClaimOutcome.AlreadyDone:
                    SyncWorkerTelemetry.Deliveries.Add(1, targetTag, new KeyValuePair<string, object?>("outcome", "duplicate_suppressed"));
                    LogDuplicate(logger, key.Value, context.Message.Event.EventId, claim.Entry.State, claim.Entry.RepeatsSuppressed);
                    return (null, null);
            }

            // Another forwarder is sending it (a duplicate event dispatched at the same moment, or a copy redelivered
            // after that forwarder died): wait for its outcome, briefly here, then in a delay queue until its lease ends.
            var leaseEnds = claim.Entry.LeaseUntil ?? DateTimeOffset.UtcNow;
            if (DateTimeOffset.UtcNow - polling >= DeliveryLedgerGate.HeldPollLimit)
            {
                var wait = leaseEnds - DateTimeOffset.UtcNow + TimeSpan.FromSeconds(1);
                if (await redelivery.TryDeferAsync(context, target, wait, $"held by forwarder {claim.Entry.LeaseOwner} until {leaseEnds:O}"))
                {
                    return (null, null);
                }
            }

            await Task.Delay(TimeSpan.FromSeconds(1), context.CancellationToken);
        }
    }

    private Task RecordFailureAsync(HeldClaim? claim, DeliveryState state, DateTimeOffset started, DeliveryFailedException? failure, string? reason, CancellationToken cancellationToken) =>
        claim is null
            ? Task.CompletedTask
            : ledger!.FinishAsync(claim, state, started, failure?.Requests ?? [], failure?.StatusCode, reason, cancellationToken);

    private async Task<DeliveryReport> DeliverAsync(ConsumeContext<FulfillmentDelivery> context, FulfillmentDelivery delivery, TargetRoute target, LaterAction? later)
    {
        var evt = delivery.Event;
        ReadOnlyMemory<byte> body;
        string description;
        if (later is not null)
        {
            // The order's fields from its order.paid document as sent (recorded at dispatch, before that delivery).
            var paid = later.PaidDocument ?? await laterActions.PaidDocumentAsync(later.OrderId!, context.CancellationToken);
            body = OrderDocumentMapper.MapLaterAction(evt, later.Facts, later.OrderId!, later.Refund, paid).ToJsonBytes();
            description = $"order {later.OrderId} ({later.Facts.Action} {later.Instance})";
        }
        else if (delivery.Format == TargetOptions.OrderFormat)
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
                    async ct => await lineItems.GetLineItemsAsync(sessionId, evt.Account, evt.Environment, ct),
                    context.CancellationToken);
                var built = OrderDocumentMapper.Map(evt, items);
                body = built.ToJsonBytes();
                await laterActions.RecordPaidAsync(built, body, context.CancellationToken);
            }
        }
        else
        {
            body = evt.Payload.Utf8;
            description = $"event {evt.EventId} ({evt.Type})";
        }

        // The POST is not cancelled when only the broker's channel is lost (MassTransit then cancels the consume): a request
        // the target may already have answered would be given up, and its redelivered copy sent again. It ends with its own
        // timeouts, or when the consume is cancelled while the host stops; its outcome is recorded, and the copy the broker
        // redelivers is a duplicate.
        using var send = lifetime is null ? null : new CancelledWhenBoth(context.CancellationToken, lifetime.ApplicationStopping);
        return await sender.SendAsync(delivery.Target, new TargetDelivery(delivery.DeliveryId, delivery.DeliveryId, body, description),
            send?.Token ?? context.CancellationToken);
    }

    /// <summary>
    /// A delivery of an account that uninstalled the app (in the event's mode): not sent, acknowledged, and recorded in the
    /// ledger as <c>skipped</c> with the reason (unless the row was already final). A refund or dispute is not looked up
    /// at Stripe to find its order's row: it is counted and logged only.
    /// </summary>
    private async Task SkipUninstalledAsync(ConsumeContext<FulfillmentDelivery> context, FulfillmentDelivery delivery, TargetRoute target)
    {
        var evt = delivery.Event;
        var reason = $"uninstalled: account {evt.Account} uninstalled the app in {(evt.Livemode ? "live" : "test")} mode";
        if (ledger is not null && !OrderActions.IsLaterAction(delivery.Action) && DeliveryLedgerGate.KeyOf(delivery) is { } key)
        {
            var (result, claim) = await ledger.ClaimAsync(key, delivery, force: false, progress: null, context.CancellationToken);
            if (result.Outcome == ClaimOutcome.Claimed)
            {
                await ledger.EndAsync(claim, DeliveryState.Skipped, reason, context.CancellationToken);
            }
        }

        SyncWorkerTelemetry.Deliveries.Add(1, new KeyValuePair<string, object?>("target", target.Name), new KeyValuePair<string, object?>("outcome", "skipped"));
        LogUninstalledSkipped(logger, evt.EventId, target.Name, evt.Account!, evt.Livemode ? "live" : "test");
    }

    /// <summary>A delivery to a target being removed with <c>?discard=true</c>: recorded as discarded, acknowledged, not sent.</summary>
    private async Task DiscardAsync(ConsumeContext<FulfillmentDelivery> context, FulfillmentDelivery delivery, TargetRoute target)
    {
        var evt = delivery.Event;
        var reason = $"discarded: target {target.Name} was removed with its queued deliveries discarded";
        if (ledger is not null && !OrderActions.IsLaterAction(delivery.Action) && DeliveryLedgerGate.KeyOf(delivery) is { } key)
        {
            var (result, claim) = await ledger.ClaimAsync(key, delivery, force: false, progress: null, context.CancellationToken);
            if (result.Outcome == ClaimOutcome.Claimed)
            {
                await ledger.EndAsync(claim, DeliveryState.Discarded, reason, context.CancellationToken);
            }
        }

        SyncWorkerTelemetry.Deliveries.Add(1, new KeyValuePair<string, object?>("target", target.Name), new KeyValuePair<string, object?>("outcome", "discarded"));
        LogDiscarded(logger, evt.EventId, target.Name);
    }

    [LoggerMessage(EventId = 2410, Level = LogLevel.Warning,
        Message = "Event {EventId} is not sent to target {Target}: the target is being removed and its queued deliveries discarded (discarded)")]
    private static partial void LogDiscarded(ILogger logger, string eventId, string target);

    [LoggerMessage(EventId = 2409, Level = LogLevel.Information,
        Message = "Event {EventId} is not sent to target {Target}: account {UninstalledAccount} uninstalled the app in {Mode} mode (skipped)")]
    private static partial void LogUninstalledSkipped(ILogger logger, string eventId, string target, string uninstalledAccount, string mode);

    [LoggerMessage(EventId = 2407, Level = LogLevel.Information,
        Message = "Event {EventId} ({EventType}) is no order action for order targets: {Reason}")]
    private static partial void LogNotAnOrder(ILogger logger, string eventId, string eventType, string reason);

    [LoggerMessage(EventId = 2408, Level = LogLevel.Information, Message = "Delivery {Key} (event {EventId}) is not sent: {Reason}")]
    private static partial void LogStale(ILogger logger, string key, string eventId, string reason);

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

/// <summary>A token cancelled once both <c>a</c> and <c>b</c> are, in either order.</summary>
internal sealed class CancelledWhenBoth : IDisposable
{
    private readonly CancellationTokenSource _source = new();
    private readonly CancellationTokenRegistration _onA;
    private readonly CancellationTokenRegistration _onB;

    public CancelledWhenBoth(CancellationToken a, CancellationToken b)
    {
        _onA = a.Register(() => CancelIf(b));
        _onB = b.Register(() => CancelIf(a));
    }

    public CancellationToken Token => _source.Token;

    public void Dispose()
    {
        // Unregistering waits for a callback under way, so the source is never cancelled after it is disposed.
        _onA.Dispose();
        _onB.Dispose();
        _source.Dispose();
    }

    private void CancelIf(CancellationToken other)
    {
        if (other.IsCancellationRequested)
        {
            _source.Cancel();
        }
    }
}

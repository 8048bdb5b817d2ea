using System.Text.Json;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using SyncWorker.Contracts;
using SyncWorker.Forwarding.Delivery;
using SyncWorker.Forwarding.Installs;
using SyncWorker.Forwarding.Orders;
using SyncWorker.Forwarding.Targets;
using SyncWorker.Messaging;
using SyncWorker.Store;
using SyncWorker.Store.Installs;

namespace SyncWorker.Forwarding.Consumers;

/// <summary>
/// Consumes <see cref="Topology.IntakeQueue"/> and sends one <see cref="FulfillmentDelivery"/> to the queue of every
/// target that wants the event. Target-format rules: an order target receives an order document for a paid Checkout
/// Session (<c>checkout.session.completed</c> with <c>payment_status</c> paid or no_payment_required, or
/// <c>checkout.session.async_payment_succeeded</c>), nothing for the other Checkout Session lifecycle events, and the raw
/// event for any other subscribed type. The intake message is acknowledged only after every send was confirmed; a crash
/// in between redelivers it, and the repeated sends carry the same delivery ids.
/// <para>
/// An order's document is built here, once, and carried by every order target's delivery
/// (<see cref="FulfillmentDelivery.Document"/>): one line-items listing from Stripe per order whatever the number of order
/// targets (Stripe's default live-mode limit is about 100 reads per second). This is one attempt, bounded by
/// <see cref="DocumentTimeout"/>: when Stripe cannot be read at that moment (or refuses), the deliveries go out without a
/// document and each target's consumer builds it with the target's own retries, durable schedule and dead-lettering, as
/// for a delivery queued by an earlier version; the event is never held at the intake for Stripe.
/// </para>
/// On RabbitMQ the sends go through the forward stage's <see cref="RabbitMqPublisher"/> (persistent, mandatory, confirmed,
/// in <see cref="DeliveryMessages"/>' format: the body is the event's bytes or the order document, as they will be posted,
/// shared by every target's message; a channel a send failed on is replaced, so channel-level refusals after a node loss do not
/// use up the retries); on the in-memory transport through MassTransit.
/// </summary>
public sealed partial class IntakeDispatchConsumer(
    TargetRegistry targets,
    IServiceProvider services,
    ILogger<IntakeDispatchConsumer> logger,
    RabbitMqPublisher? publisher = null,
    ILineItemSource? lineItems = null,
    LaterActionResolver? orders = null,
    IInstallRegistry? installs = null,
    InstallState? installState = null) : IConsumer<StripeEventReceived>
{
    /// <summary>How long the dispatcher waits for an order's line items before leaving the document to the targets.</summary>
    public static readonly TimeSpan DocumentTimeout = TimeSpan.FromSeconds(10);

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
        if (installs is not null && InstallEvents.IsInstallEvent(message.Type))
        {
            // Recorded before anything is routed, waiting for the store if it is unreachable.
            await RecordInstallAsync(message, context.CancellationToken);
        }

        // An uninstalled account's deliveries still go to its targets' queues, where each is recorded as skipped; only
        // its order document is not read from Stripe (the merchant's authorization is gone).
        var uninstalled = installState?.IsUninstalled(message.Account, message.Livemode) == true;
        OrderClassification? classification = null;
        JsonBytes? document = null;
        var documentTried = uninstalled;
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

                if (!documentTried)
                {
                    documentTried = true;
                    // Not while the install has the permission pending: the target's consumer holds the order back until
                    // it is granted and builds the document then.
                    document = installState?.PendingPermissions(message.Account, message.Livemode).Contains("checkout_session_read") == true
                        ? null
                        : await TryBuildDocumentAsync(message, sessionId, context.CancellationToken);
                }

                delivery = new FulfillmentDelivery(
                    route.Name,
                    DeliveryIds.For(route.Name, sessionId, OrderEventClassifier.PaidAction),
                    TargetOptions.OrderFormat,
                    OrderEventClassifier.PaidAction,
                    message,
                    document);
            }
            else if (route.Options.Format == TargetOptions.OrderFormat && OrderActions.IsOrderEvent(message.Type))
            {
                // A refund or dispute: the target's consumer finds its order (or that there is none) and keeps it behind
                // the order's payment. Other dispute events are nothing for an order target.
                if (OrderActions.LaterActionOf(message.Type) is not { } action)
                {
                    LogNotFulfilled(logger, message.EventId, message.Type, route.Name, "not an order action (order targets get charge.dispute.created and charge.dispute.closed)");
                    continue;
                }

                // The body stays the raw event (Format event), so an earlier forwarder still running in a rolling upgrade
                // posts the event as it did before; this version recognises the action and sends the order document.
                delivery = new FulfillmentDelivery(
                    route.Name,
                    DeliveryIds.For(route.Name, message.EventId, action),
                    TargetOptions.EventFormat,
                    action,
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

    private async Task RecordInstallAsync(StripeEventReceived message, CancellationToken cancellationToken)
    {
        InstallChange? change;
        try
        {
            change = InstallEvents.Read(message);
        }
        catch (JsonException exception)
        {
            LogInstallUnreadable(logger, message.EventId, message.Type, exception.Message);
            return;
        }

        if (change is null)
        {
            return;
        }

        // While the store is unreachable the event waits here (unacknowledged), as deliveries wait for the ledger: an
        // install event is never dead-lettered for a store outage.
        var applied = await StoreWaits.WhileUnavailableAsync(
            ct => installs!.ApplyAsync(change, ct),
            TimeProvider.System,
            problem => LogInstallWaits(logger, message.EventId, problem),
            () => LogInstallStoreBack(logger, message.EventId),
            cancellationToken);
        if (applied)
        {
            installState?.Apply(change);
        }

        LogInstall(logger, message.EventId, message.Type, change.Account, change.Livemode ? "live" : "test", change.Status, applied ? "recorded" : "older than what the registry has, not applied");
    }

    /// <summary>
    /// The order document of <paramref name="sessionId"/> as JSON, or null when Stripe could not be read (or refused) in
    /// one attempt within <see cref="DocumentTimeout"/>: then each target's consumer builds it itself.
    /// </summary>
    private async Task<JsonBytes?> TryBuildDocumentAsync(StripeEventReceived message, string sessionId, CancellationToken cancellationToken)
    {
        if (lineItems is null)
        {
            return null;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(DocumentTimeout);
        try
        {
            var items = await lineItems.GetLineItemsAsync(sessionId, message.Account, message.Environment, timeout.Token);
            var document = OrderDocumentMapper.Map(message, items);
            var json = document.ToJsonBytes();
            if (orders is not null)
            {
                // Before the deliveries are queued: a refund of this order finds its payment intent and its document.
                await orders.RecordPaidAsync(document, json, cancellationToken);
            }

            return new JsonBytes(json);
        }
        catch (DeliveryFailedException failure)
        {
            LogDocumentLeftToTargets(logger, sessionId, message.EventId, failure.Message);
            return null;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            LogDocumentLeftToTargets(logger, sessionId, message.EventId,
                $"Stripe did not answer within {DocumentTimeout.TotalSeconds:0} s");
            return null;
        }
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
                    DeliveryMessages.Create(route.QueueName, delivery, MessageIds.ForDelivery(delivery.DeliveryId)),
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

    [LoggerMessage(EventId = 2004, Level = LogLevel.Warning,
        Message = "Order {SessionId} (event {EventId}): its document could not be built at dispatch, each order target's consumer builds it with the target's retries: {Reason}")]
    private static partial void LogDocumentLeftToTargets(ILogger logger, string sessionId, string eventId, string reason);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Information,
        Message = "Install event {EventId} ({EventType}): account {InstallAccount} in {Mode} mode is {Status} ({Outcome})")]
    private static partial void LogInstall(ILogger logger, string eventId, string eventType, string installAccount, string mode, string status, string outcome);

    [LoggerMessage(EventId = 2007, Level = LogLevel.Warning,
        Message = "Install event {EventId} waits for the store to record it: {Problem}")]
    private static partial void LogInstallWaits(ILogger logger, string eventId, string problem);

    [LoggerMessage(EventId = 2008, Level = LogLevel.Information, Message = "Install event {EventId}: the store answers again")]
    private static partial void LogInstallStoreBack(ILogger logger, string eventId);

    [LoggerMessage(EventId = 2006, Level = LogLevel.Warning,
        Message = "Install event {EventId} ({EventType}) could not be read and was not recorded: {Problem}")]
    private static partial void LogInstallUnreadable(ILogger logger, string eventId, string eventType, string problem);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Debug, Message = "Event {EventId} ({EventType}) matches no target")]
    private static partial void LogNoTarget(ILogger logger, string eventId, string eventType);
}

using Microsoft.Extensions.Logging;
using SyncWorker.Contracts;
using SyncWorker.Forwarding.Delivery;
using SyncWorker.Forwarding.Orders;
using SyncWorker.Forwarding.Targets;
using SyncWorker.Store;
using SyncWorker.Store.Hosting;
using SyncWorker.Store.Ledger;

namespace SyncWorker.Forwarding.Ledger;

/// <summary>
/// The forward stage's use of the delivery ledger: before a POST the consumer claims the delivery's row (a lease of
/// <c>Store:LeaseSeconds</c>, renewed while the delivery lasts); a row already delivered is not sent again; the outcome
/// and the attempt are recorded after. While the store is unreachable every call here waits for it (the message stays
/// unacknowledged: nothing is dead-lettered or redelivered for a store outage); <see cref="Hosting.TargetEndpointSupervisor"/>
/// meanwhile stops taking new deliveries.
/// </summary>
public sealed partial class DeliveryLedgerGate : IDisposable
{
    /// <summary>How long a delivery held by another forwarder is polled before it is deferred to a delay queue.</summary>
    public static readonly TimeSpan HeldPollLimit = TimeSpan.FromSeconds(30);

    private readonly IDeliveryLedger _ledger;
    private readonly StoreMonitor _monitor;
    private readonly TimeProvider _time;
    private readonly ILogger<DeliveryLedgerGate> _logger;
    private readonly LeaseKeeper _leases;

    /// <summary>Created by dependency injection (registered with the store, for forwarding instances).</summary>
    public DeliveryLedgerGate(IDeliveryLedger ledger, StoreSettings settings, StoreMonitor monitor, TimeProvider time, ILogger<DeliveryLedgerGate> logger)
    {
        ArgumentNullException.ThrowIfNull(ledger);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(monitor);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(logger);
        _ledger = ledger;
        _monitor = monitor;
        _time = time;
        _logger = logger;
        Lease = settings.Lease;
        _leases = new LeaseKeeper(ledger, Lease, time, logger);
        Owner = $"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid().ToString("N")[..8]}";
    }

    /// <summary>
    /// This process's name: host, process id and a random suffix. Each claim adds its own suffix
    /// (<see cref="HeldClaim.Owner"/>), so two deliveries of one row in this process exclude each other too.
    /// </summary>
    public string Owner { get; }

    /// <summary><c>Store:LeaseSeconds</c>.</summary>
    public TimeSpan Lease { get; }

    /// <summary>True while the store is migrated and reachable (target endpoints consume only then).</summary>
    public bool StoreAvailable => _monitor.IsAvailable;

    /// <summary>
    /// The ledger row of a delivery: per (target, order, action) for an order delivery, per (target, event) for an event
    /// delivery. Null for an order delivery whose event names no object (it fails as before, unrecorded).
    /// </summary>
    public static DeliveryKey? KeyOf(FulfillmentDelivery delivery)
    {
        ArgumentNullException.ThrowIfNull(delivery);
        if (delivery.Format == TargetOptions.OrderFormat)
        {
            return delivery.Event.ObjectId is { Length: > 0 } order ? DeliveryKey.ForOrder(delivery.Target, order, delivery.Action) : null;
        }

        return DeliveryKey.ForEvent(delivery.Target, delivery.Event.EventId);
    }

    /// <summary>
    /// Claims the delivery's row under an owner of its own (<see cref="HeldClaim.Owner"/>), waiting while the store is
    /// unreachable.
    /// </summary>
    public async Task<(ClaimResult Result, HeldClaim Claim)> ClaimAsync(DeliveryKey key, FulfillmentDelivery delivery, bool force, long? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(delivery);
        var held = new HeldClaim(key, $"{Owner}/{Guid.NewGuid().ToString("N")[..8]}");
        var claim = new DeliveryClaim(key, delivery.Event.EventId, delivery.DeliveryId, delivery.Event.Account, progress);
        var result = await WhileUnavailableAsync(key.Value, ct => _ledger.ClaimAsync(claim, held.Owner, Lease, force, ct), cancellationToken);
        return (result, held);
    }

    /// <summary>
    /// Records one round of attempts (each HTTP request in <paramref name="requests"/>) and the row's new state, waiting
    /// while the store is unreachable.
    /// </summary>
    public Task FinishAsync(HeldClaim claim, DeliveryState state, DateTimeOffset started, IReadOnlyList<SentRequest> requests, int? status, string? reason, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(claim);
        var key = claim.Key.Value;
        var attempts = Attempts(claim, state, started, requests, status, reason);
        return WhileUnavailableAsync(key, ct => _ledger.FinishAsync(key, claim.Owner, state, status, reason, attempts, ct), cancellationToken);
    }

    /// <summary>
    /// Records a delivery the target answered 2xx when the consumer was cancelled before <see cref="FinishAsync"/> could
    /// (shutdown): one try, not waiting for the store, so the copy handed back to the queue is not sent again. If the store
    /// is unreachable the lease expires on its own and that copy is sent again, with the same <c>webhook-id</c>.
    /// </summary>
    public async Task RecordDeliveredAsync(HeldClaim claim, DateTimeOffset started, IReadOnlyList<SentRequest> requests, int? status)
    {
        ArgumentNullException.ThrowIfNull(claim);
        var attempts = Attempts(claim, DeliveryState.Delivered, started, requests, status, reason: null);
        try
        {
            await _ledger.FinishAsync(claim.Key.Value, claim.Owner, DeliveryState.Delivered, status, null, attempts, CancellationToken.None);
        }
        catch (StoreUnavailableException)
        {
            // The lease expires on its own.
        }
    }

    /// <summary>
    /// The attempt rows of a round: one per HTTP request (a 2xx is <c>delivered</c>, anything else <c>failed</c>, with
    /// the error class of a request that got no answer; the round's reason goes on its last request when it failed), or
    /// one row for the round when it sent nothing (an open circuit, Stripe unreadable) or its requests are unknown.
    /// </summary>
    private DeliveryAttemptRecord[] Attempts(HeldClaim claim, DeliveryState state, DateTimeOffset started, IReadOnlyList<SentRequest> requests, int? status, string? reason)
    {
        ArgumentNullException.ThrowIfNull(requests);
        var delivered = state == DeliveryState.Delivered;
        if (requests.Count == 0)
        {
            return [new DeliveryAttemptRecord(1, claim.Owner, started, _time.GetUtcNow() - started, delivered ? "delivered" : "failed", status, reason)];
        }

        var attempts = new DeliveryAttemptRecord[requests.Count];
        for (var i = 0; i < requests.Count; i++)
        {
            var request = requests[i];
            var ok = request.Status is >= 200 and <= 299;
            var last = i == requests.Count - 1;
            var error = !ok && last && !delivered && reason is not null
                ? request.ErrorClass is { } errorClass ? $"{errorClass}: {reason}" : reason
                : request.ErrorClass;
            attempts[i] = new DeliveryAttemptRecord(i + 1, claim.Owner, request.StartedAt, request.Duration, ok ? "delivered" : "failed", request.Status, error);
        }

        return attempts;
    }

    /// <summary>
    /// The ledger row of a later order action (a refund or dispute), per (target, order, action, instance), once its order
    /// is known.
    /// </summary>
    public static DeliveryKey KeyOf(FulfillmentDelivery delivery, LaterAction action)
    {
        ArgumentNullException.ThrowIfNull(delivery);
        ArgumentNullException.ThrowIfNull(action);
        return DeliveryKey.ForOrder(delivery.Target, action.OrderId ?? throw new ArgumentException("The action belongs to no order.", nameof(action)), action.Facts.Action, action.Instance);
    }

    /// <summary>
    /// Ends the lease with <paramref name="state"/> and <paramref name="reason"/>, recording no attempt (nothing was sent:
    /// the action waits for its order's payment, or is stale), waiting while the store is unreachable.
    /// </summary>
    public Task EndAsync(HeldClaim claim, DeliveryState state, string reason, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(claim);
        var key = claim.Key.Value;
        return WhileUnavailableAsync(key, ct => _ledger.FinishAsync(key, claim.Owner, state, null, reason, [], ct), cancellationToken);
    }

    /// <summary>Every ledger row of an order (all targets and actions), waiting while the store is unreachable.</summary>
    public Task<IReadOnlyList<LedgerEntry>> OrderRowsAsync(string orderId, CancellationToken cancellationToken) =>
        WhileUnavailableAsync(orderId, ct => _ledger.FindBySubjectAsync(orderId, ct), cancellationToken);

    /// <summary>Gives the row back (the delivery goes back to its queue, for example at shutdown) so the next copy may claim it at once.</summary>
    public async Task ReleaseAsync(HeldClaim claim, string reason)
    {
        ArgumentNullException.ThrowIfNull(claim);
        try
        {
            await _ledger.FinishAsync(claim.Key.Value, claim.Owner, DeliveryState.Pending, null, reason, [], CancellationToken.None);
        }
        catch (StoreUnavailableException)
        {
            // The lease expires on its own.
        }
    }

    /// <summary>Renews the lease every third of its length until disposed (deliveries may outlast one lease).</summary>
    public IAsyncDisposable KeepLeased(HeldClaim claim) => _leases.Keep(claim);

    /// <summary>Stops renewing leases (the process is stopping).</summary>
    public void Dispose() => _leases.Dispose();

    private Task<T> WhileUnavailableAsync<T>(string key, Func<CancellationToken, Task<T>> work, CancellationToken cancellationToken) =>
        StoreWaits.WhileUnavailableAsync(work, _time, problem => LogStoreWait(key, problem), () => LogStoreBack(key), cancellationToken);

    [LoggerMessage(EventId = 2401, Level = LogLevel.Warning, Message = "Delivery {Key} waits for the store: {Problem}")]
    private partial void LogStoreWait(string key, string problem);

    [LoggerMessage(EventId = 2402, Level = LogLevel.Information, Message = "Delivery {Key}: the store answers again")]
    private partial void LogStoreBack(string key);
}

/// <summary>A ledger row claimed by one delivery: its key and the owner name the lease is held under.</summary>
public sealed record HeldClaim(DeliveryKey Key, string Owner);

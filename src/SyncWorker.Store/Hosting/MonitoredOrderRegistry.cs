using SyncWorker.Store.Ledger;

namespace SyncWorker.Store.Hosting;

/// <summary>
/// The order registry as the running worker uses it: while <see cref="StoreMonitor"/> has not found the store migrated and
/// reachable (at start, before the background migration ends, or during an outage) every call throws
/// <see cref="StoreUnavailableException"/> at once, as an unreachable store does, rather than meeting tables that do not
/// exist yet. Its callers treat the registry as best effort and go on without it.
/// </summary>
internal sealed class MonitoredOrderRegistry(SqlDeliveryLedger registry, StoreMonitor monitor) : IOrderRegistry
{
    /// <inheritdoc />
    public Task RecordAsync(OrderRecord order, CancellationToken cancellationToken)
    {
        ThrowUnlessAvailable();
        return registry.RecordAsync(order, cancellationToken);
    }

    /// <inheritdoc />
    public Task<OrderRecord?> GetOrderAsync(string orderId, CancellationToken cancellationToken)
    {
        ThrowUnlessAvailable();
        return registry.GetOrderAsync(orderId, cancellationToken);
    }

    /// <inheritdoc />
    public Task<OrderRecord?> FindByPaymentIntentAsync(string paymentIntent, CancellationToken cancellationToken)
    {
        ThrowUnlessAvailable();
        return registry.FindByPaymentIntentAsync(paymentIntent, cancellationToken);
    }

    private void ThrowUnlessAvailable()
    {
        if (!monitor.IsAvailable)
        {
            throw new StoreUnavailableException($"The store ({monitor.Description}) is not available yet: {monitor.Problem}");
        }
    }
}

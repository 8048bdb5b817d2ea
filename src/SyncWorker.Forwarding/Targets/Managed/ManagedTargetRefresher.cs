using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SyncWorker.Contracts;
using SyncWorker.Messaging;
using SyncWorker.Store;
using SyncWorker.Store.Audit;
using SyncWorker.Store.Hosting;
using SyncWorker.Store.Targets;

namespace SyncWorker.Forwarding.Targets.Managed;

/// <summary>
/// Keeps this forwarder's <see cref="TargetRegistry"/> in step with the targets managed at run time in the store: every
/// <see cref="PollInterval"/> it reads the table's fingerprint (one small query) and, when it changed, the targets; the
/// endpoint supervisor then starts, restarts or stops their consumers. So a change made through any instance's admin API
/// takes effect on every forwarder within a few seconds, with no restart. It also finishes removals: a draining or
/// discarding target with nothing left in its queue or open in the ledger (seen so twice in a row) is removed, and the
/// queue of a removed target is deleted once its consumers have stopped, if it is empty (else it is kept, and logged).
/// </summary>
public sealed partial class ManagedTargetRefresher(
    TargetRegistry registry,
    SqlTargetStore store,
    IServiceProvider services,
    TimeProvider time,
    ILogger<ManagedTargetRefresher> logger) : BackgroundService
{
    /// <summary>How often the store's targets are checked for a change.</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(1);

    /// <summary>How often removals in progress are checked.</summary>
    public static readonly TimeSpan RemovalInterval = TimeSpan.FromSeconds(5);

    /// <summary>How long after a removal its queue is deleted (every forwarder has stopped consuming it by then).</summary>
    public static readonly TimeSpan QueueDeleteDelay = TimeSpan.FromSeconds(20);

    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly HashSet<string> _emptyOnce = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTimeOffset> _removedAt = new(StringComparer.Ordinal);
    private readonly HashSet<string> _unreadable = new(StringComparer.Ordinal);
    private string? _fingerprint;
    private string? _lastFailure;
    private bool _warnedNoKey;

    /// <summary>
    /// Reads the targets again now (after a change made here) and returns the route of <paramref name="name"/>, if any.
    /// </summary>
    public async Task<TargetRoute?> RefreshAsync(string name, CancellationToken cancellationToken)
    {
        await RefreshAsync(force: true, cancellationToken);
        return registry.Find(name);
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var monitor = services.GetService<StoreMonitor>();
        if (monitor is not null)
        {
            try
            {
                await monitor.FirstReady.WaitAsync(stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }

        var lastRemovalCheck = DateTimeOffset.MinValue;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await RefreshAsync(force: false, stoppingToken);
                if (time.GetUtcNow() - lastRemovalCheck >= RemovalInterval)
                {
                    lastRemovalCheck = time.GetUtcNow();
                    await FinishRemovalsAsync(stoppingToken);
                }

                _lastFailure = null;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception exception) when (exception is StoreUnavailableException or SecretBoxException or System.Data.Common.DbException)
            {
                // Once per distinct problem, not every second.
                if (exception.Message != _lastFailure)
                {
                    _lastFailure = exception.Message;
                    LogRefreshFailed(logger, exception.Message);
                }
            }

            try
            {
                await Task.Delay(PollInterval, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task RefreshAsync(bool force, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var fingerprint = await store.FingerprintAsync(cancellationToken);
            if (!force && fingerprint == _fingerprint)
            {
                return;
            }

            if (!store.CanSeal)
            {
                if (fingerprint != "0/0" && !_warnedNoKey)
                {
                    _warnedNoKey = true;
                    LogNoKey(logger);
                }

                _fingerprint = fingerprint;
                return;
            }

            var routes = new List<TargetRoute>();
            foreach (var stored in await store.ListAsync(cancellationToken))
            {
                if (stored.Unreadable is { } why)
                {
                    if (_unreadable.Add($"{stored.Name}/{stored.Revision}"))
                    {
                        LogUnreadable(logger, stored.Name, why);
                    }

                    continue;
                }

                try
                {
                    if (ManagedTargets.ToRoute(stored) is { } route)
                    {
                        routes.Add(route);
                    }
                }
                catch (Exception exception) when (exception is System.Text.Json.JsonException or ArgumentException)
                {
                    LogUnreadable(logger, stored.Name, exception.Message);
                }
            }

            var (added, changed, removed) = registry.SetManaged(routes);
            var now = time.GetUtcNow();
            foreach (var name in added)
            {
                LogApplied(logger, name, "added");
                _removedAt.Remove(name);
            }

            foreach (var name in changed)
            {
                LogApplied(logger, name, "changed");
            }

            foreach (var name in removed)
            {
                LogApplied(logger, name, "removed");
                _removedAt[name] = now;
            }

            _fingerprint = fingerprint;
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task FinishRemovalsAsync(CancellationToken cancellationToken)
    {
        var targets = services.GetRequiredService<ManagedTargets>();
        foreach (var route in registry.Routes.Where(route => route.Managed is not null && !route.IsActive))
        {
            var queued = await targets.QueuedAsync(route.Name, cancellationToken);
            if (queued > 0)
            {
                _emptyOnce.Remove(route.Name);
                continue;
            }

            // Empty twice in a row: a delivery between the queue and the ledger (taken, not yet claimed) is not missed.
            if (_emptyOnce.Add(route.Name))
            {
                continue;
            }

            _emptyOnce.Remove(route.Name);
            var how = route.IsDiscarding ? "discarded" : "drained";
            if (await store.ChangeStateAsync(route.Name, StoredTargetStates.Removed, [route.Managed!.State], "syncworker", cancellationToken))
            {
                await services.GetRequiredService<AuditLog>().RecordAsync("syncworker", "targets.remove", route.Name, $"removed; its queue was {how}", cancellationToken);
            }

            await RefreshAsync(force: true, cancellationToken);
        }

        var broker = services.GetService<BrokerAdmin>();
        foreach (var (name, at) in _removedAt.ToList())
        {
            if (time.GetUtcNow() - at < QueueDeleteDelay)
            {
                continue;
            }

            _removedAt.Remove(name);
            if (broker is null || registry.Find(name) is not null)
            {
                continue;
            }

            try
            {
                // Never while deliveries of it wait in a shared delay queue: they would be dead-lettered to a queue that is
                // gone (a quorum delay queue then holds them and blocks every other target's redeliveries behind them).
                if (await store.OpenDeliveriesAsync(name, cancellationToken) > 0
                    || !await broker.DeleteQueueIfEmptyAsync(Topology.TargetQueue(name), cancellationToken))
                {
                    LogQueueKept(logger, name, Topology.TargetQueue(name));
                }
            }
            catch (Exception exception) when (exception is not OperationCanceledException)
            {
                LogRefreshFailed(logger, $"deleting the queue of removed target {name}: {exception.Message}");
            }
        }
    }

    [LoggerMessage(EventId = 2312, Level = LogLevel.Information, Message = "Target {Target} (managed at run time) {Change} on this instance")]
    private static partial void LogApplied(ILogger logger, string target, string change);

    [LoggerMessage(EventId = 2313, Level = LogLevel.Warning, Message = "Could not read the targets managed at run time from the store ({Error}); trying again")]
    private static partial void LogRefreshFailed(ILogger logger, string error);

    [LoggerMessage(EventId = 2314, Level = LogLevel.Error,
        Message = "The store holds targets managed at run time, but no Store:EncryptionKey (or Store:EncryptionKeyFile) is configured to read their secrets: they are not served by this instance. Configure the key they were written with")]
    private static partial void LogNoKey(ILogger logger);

    [LoggerMessage(EventId = 2315, Level = LogLevel.Error, Message = "Target {Target} in the store cannot be read ({Error}); it is not served")]
    private static partial void LogUnreadable(ILogger logger, string target, string error);

    [LoggerMessage(EventId = 2316, Level = LogLevel.Warning,
        Message = "Target {Target} was removed but {Queue} still holds messages: the queue is kept. Create the target again to deliver them, or delete the queue")]
    private static partial void LogQueueKept(ILogger logger, string target, string queue);
}

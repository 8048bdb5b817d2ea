using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SyncWorker.Store.Hosting;
using SyncWorker.Store.Installs;

namespace SyncWorker.Store.Retention;

/// <summary>
/// Purges the store in the background (<see cref="StorePurger"/>, then the accounts due, <see cref="AccountPurger"/>): once <see cref="FirstRunDelay"/> after the store is
/// first migrated and reachable, then every <see cref="Interval"/>. A run that fails (the store unreachable) is logged
/// and left to the next one. Registered with the store, so only where the store is.
/// </summary>
public sealed partial class StoreRetentionService(StorePurger purger, StoreMonitor monitor, TimeProvider time, ILogger<StoreRetentionService> logger, AccountPurger? accounts = null) : BackgroundService
{
    /// <summary>How long after the store is first ready the first purge runs (start-up goes first).</summary>
    public static readonly TimeSpan FirstRunDelay = TimeSpan.FromMinutes(2);

    /// <summary>How often the store is purged.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromHours(1);

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await monitor.FirstReady.WaitAsync(stoppingToken).ConfigureAwait(false);
            await Task.Delay(FirstRunDelay, time, stoppingToken).ConfigureAwait(false);
            while (true)
            {
                await RunOnceAsync(stoppingToken).ConfigureAwait(false);
                await Task.Delay(Interval, time, stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    /// <summary>One purge of every rule; false (and logged) when it failed.</summary>
    public async Task<bool> RunOnceAsync(CancellationToken cancellationToken)
    {
        try
        {
            await purger.PurgeAsync(cancellationToken).ConfigureAwait(false);
            if (accounts is not null)
            {
                // Merchants who uninstalled the app Installs:PurgeAfterDays ago.
                await accounts.PurgeDueAsync(cancellationToken).ConfigureAwait(false);
            }

            return true;
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            LogFailed(StoreErrors.Describe(exception), Interval.TotalMinutes);
            return false;
        }
    }

    [LoggerMessage(EventId = 7012, Level = LogLevel.Warning, Message = "The store's retention purge failed, trying again in {Minutes} minutes: {Problem}")]
    private partial void LogFailed(string problem, double minutes);
}

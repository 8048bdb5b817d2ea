using System.Diagnostics.Metrics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace SyncWorker.Store.Hosting;

/// <summary>
/// Brings the store up to date in the background and watches it: migrates at start (under the migrator's lock, trying
/// again every few seconds while the store is unreachable, so that the process, and the webhooks it receives, never
/// wait for it), then checks it every <see cref="CheckInterval"/>. <see cref="IsAvailable"/> is what forwarders and the
/// <c>store</c> health entry read; <c>syncworker_store_up</c> (1 or 0) is its gauge.
/// </summary>
public sealed partial class StoreMonitor : BackgroundService
{
    /// <summary>How often a migrated store is checked, and how soon an unreachable one is tried again.</summary>
    public static readonly TimeSpan CheckInterval = TimeSpan.FromSeconds(5);

    private readonly StoreMigrator _migrator;
    private readonly StoreSettings _settings;
    private readonly TimeProvider _time;
    private readonly ILogger<StoreMonitor> _logger;
    private readonly TaskCompletionSource _firstReady = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile string _problem = "not checked yet";
    private volatile bool _available;

    /// <summary>Created by dependency injection.</summary>
    public StoreMonitor(StoreMigrator migrator, StoreSettings settings, TimeProvider time, ILogger<StoreMonitor> logger, IMeterFactory meters)
    {
        ArgumentNullException.ThrowIfNull(migrator);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(logger);
        ArgumentNullException.ThrowIfNull(meters);
        _migrator = migrator;
        _settings = settings;
        _time = time;
        _logger = logger;
        meters.Create(Contracts.SyncWorkerTelemetry.Name).CreateObservableGauge(
            "syncworker.store.up", () => _available ? 1 : 0, "{up}", "1 while the store is migrated and reachable from this instance, else 0.");
    }

    /// <summary>True while the store is migrated and answered the last check.</summary>
    public bool IsAvailable => _available;

    /// <summary>Why the store is not available (empty when it is).</summary>
    public string Problem => _available ? "" : _problem;

    /// <summary>Where the store is (no password).</summary>
    public string Description => _settings.Description;

    /// <summary>Completes once the store has been migrated and reached (for tests and verbs that need it).</summary>
    public Task FirstReady => _firstReady.Task;

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var migrated = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                // Migrates at start, and again if the store comes back empty (a database re-created under it).
                if (!migrated || await _migrator.CurrentVersionAsync(stoppingToken).ConfigureAwait(false) < StoreMigrator.LatestVersion)
                {
                    await _migrator.MigrateAsync(stoppingToken).ConfigureAwait(false);
                    migrated = true;
                }

                if (!_available)
                {
                    LogAvailable(_settings.Description);
                }

                _available = true;
                _firstReady.TrySetResult();
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception exception)
            {
                var problem = exception is StoreUnavailableException or StoreSchemaException ? exception.Message : $"The store ({_settings.Description}) failed: {StoreErrors.Describe(exception)}";
                if (_available || problem != _problem)
                {
                    LogUnavailable(problem);
                }

                _problem = problem;
                _available = false;
            }

            try
            {
                await Task.Delay(CheckInterval, _time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    [LoggerMessage(EventId = 7003, Level = LogLevel.Information, Message = "The store ({Store}) is available")]
    private partial void LogAvailable(string store);

    [LoggerMessage(EventId = 7004, Level = LogLevel.Warning, Message = "The store is unavailable, forwarding waits for it: {Problem}")]
    private partial void LogUnavailable(string problem);
}

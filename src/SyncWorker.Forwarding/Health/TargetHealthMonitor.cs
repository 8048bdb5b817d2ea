using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SyncWorker.Forwarding.Consumers;
using SyncWorker.Forwarding.Targets;
using SyncWorker.Store;
using SyncWorker.Store.Targets;

namespace SyncWorker.Forwarding.Health;

/// <summary>What <see cref="TargetHealthMonitor.EnableAsync"/> did.</summary>
/// <param name="WasDisabled">The target was disabled (its row or its marker said so) and is enabled now.</param>
/// <param name="FailingSince">When its failing began, as recorded at the disable.</param>
/// <param name="DisabledAt">When it was disabled.</param>
public sealed record TargetEnableResult(bool WasDisabled, DateTimeOffset? FailingSince, DateTimeOffset? DisabledAt);

/// <summary>
/// Disables targets that fail without a single success for their <c>DisableAfterHours</c>, every <see cref="Interval"/> on
/// every forwarder. Whether a target fails is read from the ledger's attempts (<see cref="SqlTargetHealth.FailingAsync"/>:
/// durable, the same for every forwarder and across restarts): its failed attempts after its last success (and after its
/// last enable) spanning at least <c>DisableAfterHours</c>. Of several forwarders deciding at once, the one whose
/// <see cref="SqlTargetHealth.TryDisableAsync"/> wins creates the disable marker, logs it and sends the notification;
/// the others see the row and only make sure the marker exists. While the store is unavailable nothing is decided.
/// </summary>
public sealed partial class TargetHealthMonitor(
    TargetRegistry targets,
    SqlTargetHealth health,
    ITargetDisableMarkers markers,
    OpsNotifier notifier,
    TimeProvider time,
    ILogger<TargetHealthMonitor> logger,
    Func<bool>? storeReady = null,
    TargetActivity? activity = null) : BackgroundService
{
    /// <summary>How often targets are evaluated.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromMinutes(5);

    /// <summary>How much further back than the longest <c>DisableAfterHours</c> the attempts are read.</summary>
    public static readonly TimeSpan Lookback = TimeSpan.FromHours(1);

    private readonly string _instance = $"{Environment.MachineName}/{Environment.ProcessId}";
    private bool _storeWarned;

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!markers.Available)
        {
            return; // The in-memory transport: no marker queues, so nothing could be disabled.
        }

        using var timer = new PeriodicTimer(Interval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await EvaluateAsync(stoppingToken);
                    _storeWarned = false;
                }
                catch (StoreUnavailableException exception)
                {
                    if (!_storeWarned)
                    {
                        _storeWarned = true;
                        LogStoreUnavailable(logger, exception.Message);
                    }
                }
                catch (Exception exception) when (exception is not OperationCanceledException)
                {
                    LogEvaluationFailed(logger, exception.GetType().Name, exception.Message);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>
    /// One evaluation of every target with <c>DisableAfterHours</c> above 0; returns the targets this instance disabled.
    /// Throws <see cref="StoreUnavailableException"/> when the store cannot be reached.
    /// </summary>
    public async Task<IReadOnlyList<string>> EvaluateAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (!markers.Available)
        {
            return [];
        }

        var watched = targets.Routes.Where(route => route.Options.DisableAfterHours > 0 && FailingHere(route.Options, now)).ToList();
        if (watched.Count == 0 || storeReady?.Invoke() == false)
        {
            return [];
        }

        var from = now - TimeSpan.FromHours(watched.Max(route => route.Options.DisableAfterHours)) - Lookback;
        var failing = (await health.FailingAsync(from, cancellationToken)).ToDictionary(f => f.Target, StringComparer.Ordinal);
        var rows = await health.ListAsync(cancellationToken);
        var disabled = new List<string>();
        foreach (var route in watched)
        {
            var name = route.Options.Name;
            var hours = route.Options.DisableAfterHours;
            if (rows.TryGetValue(name, out var row) && row.DisabledAt is not null)
            {
                // Disabled by this or another forwarder: make sure the marker is there (its creator may have stopped in between).
                if (!await markers.ExistsAsync(name, cancellationToken))
                {
                    await markers.SetAsync(name, cancellationToken);
                }

                continue;
            }

            if (!failing.TryGetValue(name, out var span) || span.Span < TimeSpan.FromHours(hours))
            {
                continue;
            }

            var lastError = await health.LastErrorAsync(name, span.FirstFailure, cancellationToken);
            if (!await health.TryDisableAsync(name, span.FirstFailure, lastError, cancellationToken))
            {
                continue; // Another forwarder was first, or an enable came in between.
            }

            await markers.SetAsync(name, cancellationToken);
            disabled.Add(name);
            var at = time.GetUtcNow();
            LogDisabled(logger, name, hours, span.FirstFailure, lastError ?? "none recorded");
            await notifier.SendAsync(
                new TargetDisabledNotification(TargetDisabledNotification.DisabledType, name, span.FirstFailure, lastError, at, hours, _instance),
                cancellationToken);
        }

        return disabled;
    }

    /// <summary>
    /// Whether the ledger is worth reading for the target: this instance saw it fail, and saw no success of it within its
    /// <c>DisableAfterHours</c>. A target failing for hours fails on whichever forwarder attempts it, so some forwarder
    /// reads the ledger for it; while every target succeeds, no forwarder reads the attempts at all. Without the activity
    /// (tests of the monitor alone) every watched target is read.
    /// </summary>
    private bool FailingHere(TargetOptions target, DateTimeOffset now)
    {
        if (activity is null)
        {
            return true;
        }

        var (_, lastSuccess, lastFailure, _) = activity.Of(target.Name);
        return lastFailure is not null && (lastSuccess is null || lastSuccess < now - TimeSpan.FromHours(target.DisableAfterHours));
    }

    /// <summary>
    /// Enables the target: its row says not disabled and its failing window starts now (so it is not disabled again at
    /// once), and its disable marker is deleted, so forwarders consume its queue again within their next check.
    /// </summary>
    public async Task<TargetEnableResult> EnableAsync(string target, string actor, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(target);
        var before = await health.EnableAsync(target, actor, cancellationToken);
        var marker = await markers.ClearAsync(target, cancellationToken);
        var wasDisabled = marker || before?.DisabledAt is not null;
        if (wasDisabled)
        {
            LogEnabled(logger, target, actor);
        }

        return new TargetEnableResult(wasDisabled, before?.FailingSince, before?.DisabledAt);
    }

    [LoggerMessage(EventId = 2811, Level = LogLevel.Error,
        Message = "Target {Target} is disabled: its attempts have failed without a single success for {Hours} h (DisableAfterHours), since {FailingSince:o}; last error: {LastError}. Its queue keeps filling and nothing is attempted until `targets enable {Target}`")]
    private static partial void LogDisabled(ILogger logger, string target, int hours, DateTimeOffset failingSince, string lastError);

    [LoggerMessage(EventId = 2812, Level = LogLevel.Warning, Message = "Target {Target} was enabled by {Actor}: forwarders take its queued deliveries again")]
    private static partial void LogEnabled(ILogger logger, string target, string actor);

    [LoggerMessage(EventId = 2813, Level = LogLevel.Warning, Message = "Targets are not checked for failing (DisableAfterHours) while the store is unavailable: {Error}")]
    private static partial void LogStoreUnavailable(ILogger logger, string error);

    [LoggerMessage(EventId = 2814, Level = LogLevel.Warning, Message = "Checking targets for failing (DisableAfterHours) failed ({Type}: {Error}); trying again at the next check")]
    private static partial void LogEvaluationFailed(ILogger logger, string type, string error);
}

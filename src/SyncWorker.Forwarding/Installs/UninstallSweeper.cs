using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace SyncWorker.Forwarding.Installs;

/// <summary>
/// Ends the dead letters of uninstalled accounts as their queued deliveries end: moved out of every target's
/// <c>_error</c> queue and the poison queue back to their target queues, where the consumer records each as
/// <c>skipped</c> (reason <c>uninstalled</c>) in the ledger instead of sending it. A round runs at once when this
/// forwarder applies an uninstall (<see cref="UninstallSweepRequests"/>, for that account and mode), and every
/// <see cref="Interval"/> (the first <see cref="FirstRoundDelay"/> after start) for every account <see cref="InstallState"/>
/// knows as uninstalled: that catches a sweep a crash interrupted, an uninstall another forwarder applied, and a delivery
/// dead-lettered after its account's sweep. A round that failed (the broker unreachable) or could not see everything
/// (another reader held messages) is run again after <see cref="RetryDelay"/>; the host keeps running meanwhile.
/// </summary>
public sealed partial class UninstallSweeper(
    UninstallSweepRequests requests,
    InstallState installs,
    IUninstalledDeadLetterSweep sweep,
    TimeProvider time,
    ILogger<UninstallSweeper> logger) : BackgroundService
{
    /// <summary>How often every uninstalled account's dead letters are swept.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromMinutes(10);

    /// <summary>The first sweep of every uninstalled account after start (the copy of the registry is read by then).</summary>
    public static readonly TimeSpan FirstRoundDelay = TimeSpan.FromSeconds(30);

    /// <summary>When a round failed or was incomplete, how soon the next one runs.</summary>
    public static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(30);

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Absolute: a clock that moved on while a round ran does not push the next one further.
        var due = time.GetUtcNow() + FirstRoundDelay;
        var requested = new HashSet<(string Account, bool Livemode)>();
        var failing = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await requests.WaitAsync(due - time.GetUtcNow(), time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }

            requests.TakeAll(requested);
            var startedAt = time.GetUtcNow();
            var everyone = startedAt >= due;
            // A request for an account installed again since is dropped: its dead letters would be sent, not skipped.
            IReadOnlySet<(string Account, bool Livemode)> accounts = everyone
                ? installs.Uninstalled
                : requested.Where(pair => installs.IsUninstalled(pair.Account, pair.Livemode)).ToHashSet();
            if (everyone)
            {
                due = startedAt + Interval;
            }

            if (accounts.Count == 0)
            {
                requested.Clear();
                continue;
            }

            try
            {
                var result = await sweep.SweepAsync(accounts, stoppingToken).ConfigureAwait(false);
                requested.Clear();
                failing = false;
                if (result.Moved > 0 || result.Incomplete || !everyone)
                {
                    LogRound(logger, everyone ? "periodic" : "uninstall", accounts.Count, result.Moved, result.Incomplete ? "; some were out of reach, swept again soon" : "");
                }

                if (result.Incomplete)
                {
                    due = Min(due, time.GetUtcNow() + RetryDelay);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception exception)
            {
                // The broker down, a connection lost mid-round: nothing is lost (what was not moved stays in place).
                // Said once per outage, not every round.
                if (!failing)
                {
                    LogRoundFailed(logger, exception, exception.Message, RetryDelay.TotalSeconds);
                    failing = true;
                }

                due = Min(due, time.GetUtcNow() + RetryDelay);
            }
        }
    }

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;

    [LoggerMessage(EventId = 2604, Level = LogLevel.Information,
        Message = "Uninstall sweep ({Trigger}) of {Accounts} account(s): {Moved} dead letter(s) moved back to their target queues to end as skipped{Note}")]
    private static partial void LogRound(ILogger logger, string trigger, int accounts, int moved, string note);

    [LoggerMessage(EventId = 2605, Level = LogLevel.Warning,
        Message = "The uninstall sweep of the dead-letter queues failed ({Problem}); it runs again every {RetrySeconds} s until it succeeds")]
    private static partial void LogRoundFailed(ILogger logger, Exception exception, string problem, double retrySeconds);
}

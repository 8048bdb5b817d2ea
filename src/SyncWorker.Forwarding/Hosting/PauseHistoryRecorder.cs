using Microsoft.Extensions.Hosting;
using SyncWorker.Forwarding.Consumers;
using SyncWorker.Forwarding.Targets;

namespace SyncWorker.Forwarding.Hosting;

/// <summary>
/// Copies the pause state that <see cref="TargetEndpointSupervisor"/> last checked into <see cref="TargetPauseHistory"/>
/// every <see cref="Interval"/>: a read of process memory, nothing is asked of the broker.
/// </summary>
public sealed class PauseHistoryRecorder(TargetRegistry targets, TargetEndpointSupervisor supervisor, TargetPauseHistory history, TimeProvider timeProvider)
    : BackgroundService
{
    /// <summary>How often the supervisor's pause state is copied (it checks the markers every 2 s).</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (targets.Routes.Count == 0)
        {
            return;
        }

        using var timer = new PeriodicTimer(Interval, timeProvider);
        try
        {
            do
            {
                foreach (var route in targets.Routes)
                {
                    // A disabled target waits as a paused one does: the schedule's clock stops for both.
                    history.Observe(route.Name, supervisor.IsPaused(route.Name) || supervisor.IsDisabled(route.Name));
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}

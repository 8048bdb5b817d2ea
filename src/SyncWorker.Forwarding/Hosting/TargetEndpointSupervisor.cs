using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SyncWorker.Contracts;
using SyncWorker.Forwarding.Consumers;
using SyncWorker.Forwarding.Targets;
using SyncWorker.Messaging;

namespace SyncWorker.Forwarding.Hosting;

/// <summary>
/// Runs one receive endpoint per target and honours pauses: while the marker queue <see cref="Topology.PausedMarker"/>
/// exists (<c>targets pause T</c>), this instance stops consuming the target's queue, which keeps filling; when the marker
/// is gone (<c>targets resume T</c>) it consumes again. Every instance checks every <see cref="PollInterval"/>, so a pause
/// takes effect across all forwarders within that time; deliveries already in flight finish first.
/// </summary>
public sealed partial class TargetEndpointSupervisor(
    IServiceProvider services,
    TargetRegistry targets,
    IHostApplicationLifetime lifetime,
    ILogger<TargetEndpointSupervisor> logger) : BackgroundService
{
    /// <summary>How often pause markers are checked.</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(2);

    private readonly Dictionary<string, HostReceiveEndpointHandle> _running = new(StringComparer.Ordinal);
    private readonly HashSet<string> _paused = new(StringComparer.Ordinal);

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (targets.Routes.Count == 0)
        {
            return;
        }

        // Endpoints are connected once the host (and so the bus) has started.
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
        using (stoppingToken.Register(() => started.TrySetCanceled(stoppingToken)))
        {
            try
            {
                await started.Task;
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }

        // The host does not wait for the bus (it may be waiting for the broker); endpoints connected before the bus has
        // started may never start, so wait until it is up.
        try
        {
            await services.GetRequiredService<IBusControl>().WaitForHealthStatus(BusHealthStatus.Healthy, stoppingToken);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        var connector = services.GetRequiredService<IReceiveEndpointConnector>();
        var admin = services.GetService<BrokerAdmin>();
        while (!stoppingToken.IsCancellationRequested)
        {
            foreach (var route in targets.Routes)
            {
                try
                {
                    var paused = admin is not null && await admin.QueueExistsAsync(Topology.PausedMarker(route.Name), stoppingToken);
                    await ApplyAsync(connector, route, paused, stoppingToken);
                }
                catch (Exception exception) when (exception is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    LogCheckFailed(logger, route.Name, exception.Message);
                }
            }

            if (admin is null)
            {
                return; // In-memory: nothing can pause a target; the endpoints stay up.
            }

            try
            {
                await Task.Delay(PollInterval, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>True while this instance consumes the target's queue.</summary>
    public bool IsConsuming(string targetName)
    {
        lock (_running)
        {
            return _running.ContainsKey(targetName);
        }
    }

    /// <summary>True while the target's pause marker exists (as last checked).</summary>
    public bool IsPaused(string targetName)
    {
        lock (_running)
        {
            return _paused.Contains(targetName);
        }
    }

    private async Task ApplyAsync(IReceiveEndpointConnector connector, TargetRoute route, bool paused, CancellationToken cancellationToken)
    {
        HostReceiveEndpointHandle? handle;
        lock (_running)
        {
            _running.TryGetValue(route.Name, out handle);
            if (paused)
            {
                _paused.Add(route.Name);
            }
            else
            {
                _paused.Remove(route.Name);
            }
        }

        if (!paused && handle is null)
        {
            handle = connector.ConnectReceiveEndpoint(route.QueueName, (context, endpoint) => ForwardingRegistration.ConfigureTargetEndpoint(context, endpoint, route));
            await handle.Ready.WaitAsync(cancellationToken);
            lock (_running)
            {
                _running[route.Name] = handle;
            }

            LogConsuming(logger, route.Name, route.QueueName);
        }
        else if (paused && handle is not null)
        {
            lock (_running)
            {
                _running.Remove(route.Name);
            }

            await handle.StopAsync(cancellationToken);
            LogPaused(logger, route.Name, route.QueueName);
        }
    }

    [LoggerMessage(EventId = 2301, Level = LogLevel.Information, Message = "Target {Target}: consuming {Queue}")]
    private static partial void LogConsuming(ILogger logger, string target, string queue);

    [LoggerMessage(EventId = 2302, Level = LogLevel.Warning,
        Message = "Target {Target} is paused: {Queue} keeps queueing and nothing is delivered until `targets resume {Target}`")]
    private static partial void LogPaused(ILogger logger, string target, string queue);

    [LoggerMessage(EventId = 2303, Level = LogLevel.Warning, Message = "Target {Target}: could not check or change its consumer ({Error}); trying again")]
    private static partial void LogCheckFailed(ILogger logger, string target, string error);
}

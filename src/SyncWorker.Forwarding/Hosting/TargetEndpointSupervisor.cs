using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SyncWorker.Contracts;
using SyncWorker.Forwarding.Consumers;
using SyncWorker.Forwarding.Delivery;
using SyncWorker.Forwarding.Targets;
using SyncWorker.Messaging;

namespace SyncWorker.Forwarding.Hosting;

/// <summary>
/// Runs one receive endpoint per target and honours pauses: while the marker queue <see cref="Topology.PausedMarker"/>
/// exists (<c>targets pause T</c>), this instance stops consuming the target's queue, which keeps filling; when the marker
/// is gone (<c>targets resume T</c>) it consumes again. Every instance checks every <see cref="PollInterval"/>, so a pause
/// takes effect across all forwarders within that time; deliveries already in flight finish first. Markers are checked
/// with <see cref="BrokerAdmin.MarkerExistsAsync"/> (a returned mandatory publish, not a failing passive declare).
/// No target waits for another: endpoints are started and stopped without blocking the loop, and an endpoint not ready
/// within <see cref="ReadyDeadline"/> is reported (<see cref="NotReady"/>: log, <c>/admin/status</c>, health) while the
/// others go on consuming, pausing and resuming. While the store (the delivery ledger) is unavailable, endpoints are
/// stopped the same way, without counting as paused, and connected again once it is back. A disabled target (the marker
/// <see cref="Topology.DisabledMarker"/>, created when it failed for its <c>DisableAfterHours</c>) is stopped exactly as a
/// paused one, and told apart (<see cref="IsDisabled"/>).
/// </summary>
public sealed partial class TargetEndpointSupervisor(
    IServiceProvider services,
    TargetRegistry targets,
    IHostApplicationLifetime lifetime,
    ILogger<TargetEndpointSupervisor> logger) : BackgroundService
{
    /// <summary>How often pause markers are checked.</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(2);

    /// <summary>How long a target's endpoint may take to become ready before it is reported as not ready.</summary>
    public static readonly TimeSpan ReadyDeadline = TimeSpan.FromSeconds(30);

    private readonly Dictionary<string, Endpoint> _endpoints = new(StringComparer.Ordinal);
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly HashSet<string> _paused = new(StringComparer.Ordinal);
    private readonly HashSet<string> _pauseMarkers = new(StringComparer.Ordinal);
    private readonly HashSet<string> _disabled = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _noChannel = new(StringComparer.Ordinal);
    private readonly TimeProvider _time = services.GetService<TimeProvider>() ?? TimeProvider.System;
    private readonly TargetCircuitStates? _circuits = services.GetService<TargetCircuitStates>();

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Targets managed at run time wake the loop at once when they change (on this instance: by the admin API, or
        // when the store's copy was read again), so a new target's endpoint starts within a pass.
        targets.Changed += Wake;
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
        var ledger = services.GetService<Ledger.DeliveryLedgerGate>();

        // Deliveries held while a circuit is open go to the delay queue when the process stops, rather than being handed
        // back (which a quorum queue counts towards its delivery limit).
        using var stopping = lifetime.ApplicationStopping.Register(() => _circuits?.Release());
        while (!stoppingToken.IsCancellationRequested)
        {
            StopRemoved();
            var channels = admin is null ? null : await admin.ChannelLimitAsync(stoppingToken);
            foreach (var route in targets.Routes)
            {
                try
                {
                    var paused = admin is not null && await admin.MarkerExistsAsync(Topology.PausedMarker(route.Name), stoppingToken);
                    // A disabled target (failing for its DisableAfterHours) is stopped as for a pause, told apart for status.
                    var disabled = admin is not null && await admin.MarkerExistsAsync(Topology.DisabledMarker(route.Name), stoppingToken);
                    Mark(route.Name, paused, disabled);
                    paused |= disabled;
                    // Without its store a forwarder takes no delivery: each would wait for the ledger, unacknowledged.
                    var storeDown = ledger is { StoreAvailable: false };
                    Apply(connector, route, paused, storeDown, channels);
                }
                catch (Exception exception) when (exception is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    LogCheckFailed(logger, route.Name, exception.Message);
                }
            }

            try
            {
                var wake = _wake;
                await Task.WhenAny(Task.Delay(PollInterval, stoppingToken), wake.Task);
                stoppingToken.ThrowIfCancellationRequested();
                if (wake.Task.IsCompleted)
                {
                    Interlocked.CompareExchange(ref _wake, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), wake);
                }
            }
            catch (OperationCanceledException)
            {
                targets.Changed -= Wake;
                return;
            }
        }

        targets.Changed -= Wake;
    }

    private void Wake() => _wake.TrySetResult();

    /// <summary>
    /// Stops the endpoints of targets no longer there (removed through the admin API), in the background; deliveries in
    /// flight finish first. Their queues stay until the removal deletes them (see <c>ManagedTargets</c>).
    /// </summary>
    private void StopRemoved()
    {
        List<(string Name, Endpoint Endpoint)> gone;
        lock (_endpoints)
        {
            foreach (var name in _noChannel.Keys.Where(name => targets.Find(name) is null).ToList())
            {
                _noChannel.Remove(name);
            }

            gone = _endpoints.Where(pair => targets.Find(pair.Key) is null).Select(pair => (pair.Key, pair.Value)).ToList();
        }

        foreach (var (name, endpoint) in gone)
        {
            if (endpoint.Stopping is null)
            {
                _circuits?.Release(name);
                endpoint.Stopping = StopRemovedAsync(name, endpoint.Handle);
            }
            else if (endpoint.Stopping.IsCompleted)
            {
                lock (_endpoints)
                {
                    _endpoints.Remove(name);
                    _paused.Remove(name);
                    _pauseMarkers.Remove(name);
                    _disabled.Remove(name);
                }
            }
        }
    }

    private async Task StopRemovedAsync(string name, HostReceiveEndpointHandle handle)
    {
        try
        {
            await handle.StopAsync(CancellationToken.None);
            LogRemoved(logger, name);
        }
        catch (Exception exception)
        {
            LogCheckFailed(logger, name, exception.Message);
        }
    }

    /// <summary>True while this instance consumes the target's queue (its endpoint is ready).</summary>
    public bool IsConsuming(string targetName)
    {
        lock (_endpoints)
        {
            return _endpoints.TryGetValue(targetName, out var endpoint) && endpoint.IsReady && endpoint.Stopping is null;
        }
    }

    /// <summary>True while the target's pause marker exists (as last checked).</summary>
    public bool IsPaused(string targetName)
    {
        lock (_endpoints)
        {
            return _pauseMarkers.Contains(targetName);
        }
    }

    /// <summary>True while the target's disable marker exists (as last checked): it failed for its <c>DisableAfterHours</c>.</summary>
    public bool IsDisabled(string targetName)
    {
        lock (_endpoints)
        {
            return _disabled.Contains(targetName);
        }
    }

    /// <summary>Records which markers the target has (pause, disable), as just checked.</summary>
    private void Mark(string targetName, bool paused, bool disabled)
    {
        lock (_endpoints)
        {
            if (paused)
            {
                _pauseMarkers.Add(targetName);
            }
            else
            {
                _pauseMarkers.Remove(targetName);
            }

            if (disabled)
            {
                _disabled.Add(targetName);
            }
            else
            {
                _disabled.Remove(targetName);
            }
        }
    }

    /// <summary>
    /// Why the target's endpoint is not consuming although it should, once it has not become ready within
    /// <see cref="ReadyDeadline"/>; null while it consumes, starts (within the deadline), or is paused.
    /// </summary>
    public string? NotReady(string targetName)
    {
        lock (_endpoints)
        {
            if (_noChannel.TryGetValue(targetName, out var noChannel) && !_endpoints.ContainsKey(targetName))
            {
                return noChannel;
            }

            return _endpoints.TryGetValue(targetName, out var endpoint) && !endpoint.IsReady && endpoint.Stopping is null && endpoint.Overdue
                ? endpoint.Problem
                : null;
        }
    }

    /// <summary>The targets whose endpoints are <see cref="NotReady">not ready</see>, with the reason.</summary>
    public IReadOnlyDictionary<string, string> NotReadyTargets()
    {
        var found = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var route in targets.Routes)
        {
            if (NotReady(route.Name) is { } problem)
            {
                found[route.Name] = problem;
            }
        }

        return found;
    }

    /// <summary>One pass for one target; never waits for an endpoint to start or stop.</summary>
    private void Apply(IReceiveEndpointConnector connector, TargetRoute route, bool markerPaused, bool storeDown, ChannelLimit? channels)
    {
        var paused = markerPaused || storeDown;
        Endpoint? endpoint;
        lock (_endpoints)
        {
            if (markerPaused)
            {
                _paused.Add(route.Name);
            }
            else
            {
                _paused.Remove(route.Name);
            }

            _endpoints.TryGetValue(route.Name, out endpoint);
        }

        var now = _time.GetUtcNow();
        if (endpoint is { Stopping: { } stopping })
        {
            if (!stopping.IsCompleted)
            {
                return; // Resumed before the pause had finished stopping it: connect again once it has.
            }

            lock (_endpoints)
            {
                _endpoints.Remove(route.Name);
            }

            endpoint = null;
        }

        if (!paused && endpoint is not null && endpoint.Concurrency != route.Options.MaxConcurrency)
        {
            // A managed target's MaxConcurrency changed: its endpoint is connected again with the new limit.
            _circuits?.Release(route.Name);
            endpoint.Stopping = StopAsync(route, endpoint.Handle, markerPaused: false, restart: true);
            return;
        }

        if (!paused && endpoint is null && channels is not null)
        {
            // Every endpoint holds a channel of the bus connection: past the limit MassTransit's endpoint would fail to
            // start with a channel error; say why and what to change instead, and try again once one is free.
            int connected;
            lock (_endpoints)
            {
                connected = _endpoints.Count;
            }

            if (connected >= channels.Capacity)
            {
                var count = targets.Routes.Count;
                var problem = $"no channel left for its consumer: {channels.Limit}, room for {channels.Capacity} targets, and this forwarder has {count}. " +
                    $"{channels.Fix(count)}{(channels.BrokerLimits ? "" : ", or remove targets")} (README 'Sizing')";
                bool first;
                lock (_endpoints)
                {
                    first = !_noChannel.ContainsKey(route.Name);
                    _noChannel[route.Name] = problem;
                }

                if (first)
                {
                    LogNotReady(logger, route.Name, problem);
                }

                return;
            }

            lock (_endpoints)
            {
                _noChannel.Remove(route.Name);
            }
        }

        if (!paused && endpoint is null)
        {
            _circuits?.Hold(route.Name);
            var handle = connector.ConnectReceiveEndpoint(route.QueueName, (context, configurator) => ForwardingRegistration.ConfigureTargetEndpoint(context, configurator, route));
            lock (_endpoints)
            {
                _endpoints[route.Name] = new Endpoint(handle, now, route.Options.MaxConcurrency);
            }

            // Observed now (ready at once is the common case) and on each later pass.
            endpoint = _endpoints[route.Name];
        }

        if (!paused && endpoint is not null)
        {
            Observe(route, endpoint, now);
        }
        else if (paused && endpoint is not null)
        {
            var handle = endpoint.Handle;
            _circuits?.Release(route.Name);
            endpoint.Stopping = StopAsync(route, handle, markerPaused);
        }
    }

    private void Observe(TargetRoute route, Endpoint endpoint, DateTimeOffset now)
    {
        var ready = endpoint.Handle.Ready;
        if (ready.IsCompletedSuccessfully)
        {
            if (!endpoint.IsReady)
            {
                endpoint.IsReady = true;
                if (endpoint.Overdue)
                {
                    LogReadyAfterAll(logger, route.Name, route.QueueName, (long)(now - endpoint.ConnectedAt).TotalSeconds);
                }
                else
                {
                    LogConsuming(logger, route.Name, route.QueueName);
                }
            }

            return;
        }

        if (!endpoint.Overdue && (ready.IsFaulted || now - endpoint.ConnectedAt >= ReadyDeadline))
        {
            endpoint.Problem = ready.IsFaulted
                ? $"its endpoint on {route.QueueName} failed to start: {ready.Exception?.GetBaseException().Message}"
                : $"its endpoint on {route.QueueName} is not ready after {(long)ReadyDeadline.TotalSeconds} s ({EndpointHealth(route.QueueName)})";
            endpoint.Overdue = true;
            LogNotReady(logger, route.Name, endpoint.Problem);
        }
    }

    /// <summary>What MassTransit's health says of the endpoint on <paramref name="queue"/> (its last fault, usually).</summary>
    private string EndpointHealth(string queue)
    {
        try
        {
            var health = services.GetRequiredService<IBusControl>().CheckHealth();
            foreach (var (address, result) in health.Endpoints)
            {
                if (address.EndsWith("/" + queue, StringComparison.Ordinal))
                {
                    return result.Exception?.GetBaseException().Message ?? result.Description ?? "no fault reported";
                }
            }
        }
        catch (Exception exception) when (exception is InvalidOperationException or ObjectDisposedException)
        {
            // No bus to ask: say nothing more.
        }

        return "no fault reported";
    }

    /// <summary>Stops a paused target's endpoint in the background, so no other target waits for it.</summary>
    private async Task StopAsync(TargetRoute route, HostReceiveEndpointHandle handle, bool markerPaused, bool restart = false)
    {
        try
        {
            await handle.StopAsync(CancellationToken.None);
            if (restart)
            {
                return;
            }

            if (markerPaused && IsDisabled(route.Name) && !IsPaused(route.Name))
            {
                LogDisabled(logger, route.Name, route.QueueName);
            }
            else if (markerPaused)
            {
                LogPaused(logger, route.Name, route.QueueName);
            }
            else
            {
                LogWaitingForStore(logger, route.Name, route.QueueName);
            }
        }
        catch (Exception exception)
        {
            LogCheckFailed(logger, route.Name, exception.Message);
        }
    }

    /// <summary>A connected target endpoint, as the supervisor last saw it.</summary>
    private sealed class Endpoint(HostReceiveEndpointHandle handle, DateTimeOffset connectedAt, int concurrency)
    {
        public int Concurrency { get; } = concurrency;

        public HostReceiveEndpointHandle Handle { get; } = handle;

        public DateTimeOffset ConnectedAt { get; } = connectedAt;

        public bool IsReady { get; set; }

        public bool Overdue { get; set; }

        public string? Problem { get; set; }

        public Task? Stopping { get; set; }
    }

    [LoggerMessage(EventId = 2301, Level = LogLevel.Information, Message = "Target {Target}: consuming {Queue}")]
    private static partial void LogConsuming(ILogger logger, string target, string queue);

    [LoggerMessage(EventId = 2306, Level = LogLevel.Warning,
        Message = "Target {Target}: not consuming {Queue} while the store is unavailable (the delivery ledger); it resumes on its own")]
    private static partial void LogWaitingForStore(ILogger logger, string target, string queue);

    [LoggerMessage(EventId = 2302, Level = LogLevel.Warning,
        Message = "Target {Target} is paused: {Queue} keeps queueing and nothing is delivered until `targets resume {Target}`")]
    private static partial void LogPaused(ILogger logger, string target, string queue);

    [LoggerMessage(EventId = 2308, Level = LogLevel.Warning,
        Message = "Target {Target} is disabled (it failed for its DisableAfterHours): {Queue} keeps queueing and nothing is delivered until `targets enable {Target}`")]
    private static partial void LogDisabled(ILogger logger, string target, string queue);

    [LoggerMessage(EventId = 2303, Level = LogLevel.Warning, Message = "Target {Target}: could not check or change its consumer ({Error}); trying again")]
    private static partial void LogCheckFailed(ILogger logger, string target, string error);

    [LoggerMessage(EventId = 2304, Level = LogLevel.Error,
        Message = "Target {Target} is not consuming: {Problem}. Its messages wait in its queue; every other target goes on. Fix the queue (for example a queue of the other RabbitMq:QueueType) or the broker; the endpoint keeps trying")]
    private static partial void LogNotReady(ILogger logger, string target, string problem);

    [LoggerMessage(EventId = 2307, Level = LogLevel.Information, Message = "Target {Target} was removed: its consumer is stopped")]
    private static partial void LogRemoved(ILogger logger, string target);

    [LoggerMessage(EventId = 2305, Level = LogLevel.Information, Message = "Target {Target}: consuming {Queue}, {Seconds} s after its endpoint was connected")]
    private static partial void LogReadyAfterAll(ILogger logger, string target, string queue, long seconds);
}

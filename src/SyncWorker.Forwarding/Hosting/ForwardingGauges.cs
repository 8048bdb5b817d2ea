using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Polly.CircuitBreaker;
using SyncWorker.Contracts;
using SyncWorker.Forwarding.Delivery;
using SyncWorker.Forwarding.Ledger;
using SyncWorker.Forwarding.Targets;
using SyncWorker.Messaging;
using SyncWorker.Store.Hosting;
using SyncWorker.Store.Ledger;

namespace SyncWorker.Forwarding.Hosting;

/// <summary>
/// Gauges of the forward stage, on the <c>SyncWorker</c> meter: per target, the circuit state and paused state in this
/// instance, and the queue depths sampled from the broker every <see cref="SampleInterval"/>:
/// [syncworker_target_circuit_open], [syncworker_target_paused], [syncworker_target_disabled], [syncworker_queue_messages{target,state}] with state
/// <c>ready</c>, <c>retry_waiting</c> (counted in the delivery ledger), <c>dead_lettered</c>, [syncworker_intake_messages], [syncworker_intake_dead_letters]
/// (<see cref="Topology.IntakeErrorQueue"/>), and [syncworker_poison_messages]
/// (not reported while <see cref="Topology.PoisonQueue"/> does not exist: it is declared by the deploy/rabbitmq
/// definitions, not by SyncWorker), and the counter [syncworker_queue_sample_failures_total{queue}]. Deliveries in flight are
/// counted by this process ([syncworker_deliveries_in_flight]); RabbitMQ's basic protocol does not report unacknowledged
/// counts.
/// </summary>
public sealed partial class ForwardingGauges : BackgroundService
{
    /// <summary>How often queue depths are read from the broker.</summary>
    public static readonly TimeSpan SampleInterval = TimeSpan.FromSeconds(10);

    /// <summary>How often a missing <see cref="Topology.PoisonQueue"/> is looked for (a channel error each time it is missing).</summary>
    public static readonly TimeSpan PoisonLookInterval = TimeSpan.FromMinutes(5);

    /// <summary>How often the deliveries waiting for a redelivery are counted in the delivery ledger (one query over its table).</summary>
    public static readonly TimeSpan LedgerCountInterval = TimeSpan.FromMinutes(1);

    /// <summary>How long after a failed declaration a queue is declared again.</summary>
    public static readonly TimeSpan DeclareRetryInterval = TimeSpan.FromMinutes(1);

    private readonly TargetRegistry _targets;
    private readonly IServiceProvider _services;
    private readonly ILogger<ForwardingGauges> _logger;
    private readonly ConcurrentDictionary<(string Target, string State), long> _depths = new();
    private readonly ConcurrentDictionary<string, DateTimeOffset> _nextDeclare = new(StringComparer.Ordinal);
    private readonly Counter<long> _sampleFailures;
    private readonly TimeProvider _time;
    private readonly TargetEndpointSupervisor _supervisor;
    private DateTimeOffset _nextPoisonLook = DateTimeOffset.MinValue;
    private DateTimeOffset _nextLedgerCount = DateTimeOffset.MinValue;
    private long _intake = -1;
    private long _intakeDeadLetters = -1;
    private long _poison = -1;

    /// <summary>Registers the gauges.</summary>
    public ForwardingGauges(IMeterFactory meters, TargetRegistry targets, TargetCircuitStates circuits, TargetEndpointSupervisor supervisor, IServiceProvider services, ILogger<ForwardingGauges> logger)
    {
        ArgumentNullException.ThrowIfNull(meters);
        ArgumentNullException.ThrowIfNull(services);
        _time = services.GetService<TimeProvider>() ?? TimeProvider.System;
        _targets = targets;
        _supervisor = supervisor;
        _services = services;
        _logger = logger;
        var meter = meters.Create(SyncWorkerTelemetry.Name);
        meter.CreateObservableGauge("syncworker.target.circuit_open", () => targets.Routes.Select(route =>
            new Measurement<int>(circuits.StateOf(route.Name) is CircuitState.Open or CircuitState.Isolated ? 1 : 0, Tag("target", route.Name))),
            "{circuit}", "1 while the target's circuit breaker is open in this instance.");
        meter.CreateObservableGauge("syncworker.target.paused", () => targets.Routes.Select(route =>
            new Measurement<int>(supervisor.IsPaused(route.Name) ? 1 : 0, Tag("target", route.Name))),
            "{target}", "1 while the target is paused (targets pause).");
        meter.CreateObservableGauge("syncworker.target.disabled", () => targets.Routes.Select(route =>
            new Measurement<int>(supervisor.IsDisabled(route.Name) ? 1 : 0, Tag("target", route.Name))),
            "{target}", "1 while the target is disabled for failing (DisableAfterHours) until targets enable.");
        meter.CreateObservableGauge("syncworker.queue.messages", () => _depths.Select(pair =>
            new Measurement<long>(pair.Value, Tag("target", pair.Key.Target), Tag("state", pair.Key.State))),
            "{message}", "Deliveries per target: ready and dead_lettered sampled from the broker's queues, retry_waiting counted in the delivery ledger.");
        meter.CreateObservableGauge("syncworker.intake.messages", () => _intake < 0 ? [] : new[] { new Measurement<long>(_intake) },
            "{message}", "Ready messages in the intake queue, sampled from the broker.");
        meter.CreateObservableGauge("syncworker.intake.dead_letters", () => _intakeDeadLetters < 0 ? [] : new[] { new Measurement<long>(_intakeDeadLetters) },
            "{message}", "Events in syncworker.intake_error (the dispatcher gave them up after its retries), sampled from the broker.");
        meter.CreateObservableGauge("syncworker.poison.messages", () => _poison < 0 ? [] : new[] { new Measurement<long>(_poison) },
            "{message}", "Messages in syncworker.poison (dead-lettered at the delivery limit), sampled from the broker; absent without that queue.");
        _sampleFailures = meter.CreateCounter<long>("syncworker.queue.sample_failures", "{sample}",
            "Queue depth samples that failed (the queue's series is dropped until a sample succeeds).");
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_services.GetService<BrokerAdmin>() is not { } admin)
        {
            return;
        }

        // The intake and the target queues are MassTransit's to declare (declaring a new quorum queue from two connections
        // at once can fail one of them): they are sampled once its endpoints have declared them.
        if (_services.GetService<IBusControl>() is { } bus)
        {
            try
            {
                while (!IntakeEndpointHealthy(bus))
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken);
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }

            admin.MarkKnown(Topology.IntakeQueue);
        }

        using var timer = new PeriodicTimer(SampleInterval);
        do
        {
            await SampleAsync(admin, stoppingToken);
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    /// <summary>
    /// One round. Only queues known to exist are asked about (<see cref="BrokerAdmin.IsKnown"/>), on the admin's one
    /// sampling channel: the intake once MassTransit's intake endpoint is up, a target's queue once its endpoint consumes
    /// (or the dispatcher declared it); SyncWorker declares (idempotently, with the arguments MassTransit uses) the
    /// intake's error queue and each target's error queue; <see cref="Topology.PoisonQueue"/>, which only the
    /// deploy definitions create, is looked for at start and then every <see cref="PoisonLookInterval"/> until found. A
    /// queue that fails to sample is counted and its series dropped until a sample succeeds again.
    /// </summary>
    internal async Task SampleAsync(BrokerAdmin admin, CancellationToken stoppingToken)
    {
        try
        {
            if (!admin.IsKnown(Topology.PoisonQueue) && _time.GetUtcNow() >= _nextPoisonLook)
            {
                _nextPoisonLook = _time.GetUtcNow() + PoisonLookInterval;
                await admin.TryFindAsync(Topology.PoisonQueue, stoppingToken);
            }
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
        {
            LogSampleFailed(_logger, Topology.PoisonQueue, exception.Message);
        }

        _poison = await SampleOneAsync(admin, Topology.PoisonQueue, declare: false, stoppingToken) ?? -1;
        _intakeDeadLetters = await SampleOneAsync(admin, Topology.IntakeErrorQueue, declare: true, stoppingToken) ?? -1;
        _intake = await SampleOneAsync(admin, Topology.IntakeQueue, declare: false, stoppingToken) ?? -1;
        foreach (var route in _targets.Routes)
        {
            if (_supervisor.IsConsuming(route.Name))
            {
                admin.MarkKnown(route.QueueName);
            }

            Set((route.Name, "ready"), await SampleOneAsync(admin, route.QueueName, declare: false, stoppingToken));
            Set((route.Name, "dead_lettered"), await SampleOneAsync(admin, Topology.TargetErrorQueue(route.Name), declare: true, stoppingToken));
        }

        await SampleRedeliveriesAsync(stoppingToken);
    }

    /// <summary>
    /// <c>retry_waiting</c> per target, from the delivery ledger (the delay queues are shared by every target, so their
    /// depth says nothing of one target): the rows in <see cref="SqlDeliveryLedger.RedeliveryStates"/>, counted at most
    /// every <see cref="LedgerCountInterval"/> while the store is migrated and reachable (at each sample until it is). Without
    /// the ledger (<c>Benchmark:WithoutLedger</c>) there is no such series; while the store is unavailable or when the count
    /// fails the series are dropped until a count succeeds.
    /// </summary>
    private async Task SampleRedeliveriesAsync(CancellationToken stoppingToken)
    {
        var ledger = _services.GetService<DeliveryLedgerGate>() is null ? null : _services.GetService<SqlDeliveryLedger>();
        if (ledger is null || _time.GetUtcNow() < _nextLedgerCount)
        {
            return;
        }

        IReadOnlyDictionary<string, long>? counts = null;
        if (_services.GetService<StoreMonitor>() is not { IsAvailable: false })
        {
            _nextLedgerCount = _time.GetUtcNow() + LedgerCountInterval;
            try
            {
                counts = await ledger.CountByTargetAsync(SqlDeliveryLedger.RedeliveryStates, stoppingToken);
            }
            catch (Exception exception) when (exception is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                LogSampleFailed(_logger, "the delivery ledger", exception.Message);
            }
        }

        foreach (var route in _targets.Routes)
        {
            Set((route.Name, "retry_waiting"), counts is null ? null : counts.GetValueOrDefault(route.Name));
        }
    }

    /// <summary>The depth of one queue, or null (no series) when it is not known to exist or its sample failed.</summary>
    private async Task<long?> SampleOneAsync(BrokerAdmin admin, string queue, bool declare, CancellationToken stoppingToken)
    {
        try
        {
            if (declare && !admin.IsKnown(queue))
            {
                if (_nextDeclare.TryGetValue(queue, out var next) && _time.GetUtcNow() < next)
                {
                    return null;
                }

                // A declaration that fails (a queue of the other RabbitMq:QueueType, say) is tried again a minute later.
                _nextDeclare[queue] = _time.GetUtcNow() + DeclareRetryInterval;
                await admin.EnsureEndpointQueueAsync(queue, stoppingToken);
            }

            return await admin.ReadyCountAsync(queue, stoppingToken);
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
        {
            _sampleFailures.Add(1, Tag("queue", queue));
            LogSampleFailed(_logger, queue, exception.Message);
            return null;
        }
    }

    private void Set((string Target, string State) key, long? depth)
    {
        if (depth is { } value)
        {
            _depths[key] = value;
        }
        else
        {
            _depths.TryRemove(key, out _);
        }
    }

    private static bool IntakeEndpointHealthy(IBusControl bus) =>
        bus.CheckHealth().Endpoints.Any(pair =>
            pair.Key.Split('?')[0].EndsWith("/" + Topology.IntakeQueue, StringComparison.Ordinal) && pair.Value.Status == BusHealthStatus.Healthy);

    private static KeyValuePair<string, object?> Tag(string key, string value) => new(key, value);

    [LoggerMessage(EventId = 2401, Level = LogLevel.Debug, Message = "Could not sample the depth of {Queue} from the broker: {Error}")]
    private static partial void LogSampleFailed(ILogger logger, string queue, string error);
}

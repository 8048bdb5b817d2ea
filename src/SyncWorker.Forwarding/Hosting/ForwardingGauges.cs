using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Polly.CircuitBreaker;
using SyncWorker.Contracts;
using SyncWorker.Forwarding.Delivery;
using SyncWorker.Forwarding.Targets;
using SyncWorker.Messaging;

namespace SyncWorker.Forwarding.Hosting;

/// <summary>
/// Gauges of the forward stage, on the <c>SyncWorker</c> meter: per target, the circuit state and paused state in this
/// instance, and the queue depths sampled from the broker every <see cref="SampleInterval"/>:
/// [syncworker_target_circuit_open], [syncworker_target_paused], [syncworker_queue_messages{target,state}] with state
/// <c>ready</c>, <c>retry_waiting</c>, <c>dead_lettered</c>, [syncworker_intake_messages], [syncworker_intake_dead_letters]
/// (<see cref="Topology.IntakeErrorQueue"/>), and [syncworker_poison_messages]
/// (not reported while <see cref="Topology.PoisonQueue"/> does not exist: it is declared by the deploy/rabbitmq
/// definitions, not by SyncWorker). Deliveries in flight are
/// counted by this process ([syncworker_deliveries_in_flight]); RabbitMQ's basic protocol does not report unacknowledged
/// counts.
/// </summary>
public sealed partial class ForwardingGauges : BackgroundService
{
    /// <summary>How often queue depths are read from the broker.</summary>
    public static readonly TimeSpan SampleInterval = TimeSpan.FromSeconds(10);

    private readonly TargetRegistry _targets;
    private readonly IServiceProvider _services;
    private readonly ILogger<ForwardingGauges> _logger;
    private readonly ConcurrentDictionary<(string Target, string State), long> _depths = new();
    private long _intake = -1;
    private long _intakeDeadLetters = -1;
    private long _poison = -1;

    /// <summary>Registers the gauges.</summary>
    public ForwardingGauges(IMeterFactory meters, TargetRegistry targets, TargetCircuitStates circuits, TargetEndpointSupervisor supervisor, IServiceProvider services, ILogger<ForwardingGauges> logger)
    {
        ArgumentNullException.ThrowIfNull(meters);
        _targets = targets;
        _services = services;
        _logger = logger;
        var meter = meters.Create(SyncWorkerTelemetry.Name);
        meter.CreateObservableGauge("syncworker.target.circuit_open", () => targets.Routes.Select(route =>
            new Measurement<int>(circuits.StateOf(route.Name) is CircuitState.Open or CircuitState.Isolated ? 1 : 0, Tag("target", route.Name))),
            "{circuit}", "1 while the target's circuit breaker is open in this instance.");
        meter.CreateObservableGauge("syncworker.target.paused", () => targets.Routes.Select(route =>
            new Measurement<int>(supervisor.IsPaused(route.Name) ? 1 : 0, Tag("target", route.Name))),
            "{target}", "1 while the target is paused (targets pause).");
        meter.CreateObservableGauge("syncworker.queue.messages", () => _depths.Select(pair =>
            new Measurement<long>(pair.Value, Tag("target", pair.Key.Target), Tag("state", pair.Key.State))),
            "{message}", "Messages per target queue, sampled from the broker: ready, retry_waiting, dead_lettered.");
        meter.CreateObservableGauge("syncworker.intake.messages", () => _intake < 0 ? [] : new[] { new Measurement<long>(_intake) },
            "{message}", "Ready messages in the intake queue, sampled from the broker.");
        meter.CreateObservableGauge("syncworker.intake.dead_letters", () => _intakeDeadLetters < 0 ? [] : new[] { new Measurement<long>(_intakeDeadLetters) },
            "{message}", "Events in syncworker.intake_error (the dispatcher gave them up after its retries), sampled from the broker.");
        meter.CreateObservableGauge("syncworker.poison.messages", () => _poison < 0 ? [] : new[] { new Measurement<long>(_poison) },
            "{message}", "Messages in syncworker.poison (dead-lettered at the delivery limit), sampled from the broker; absent without that queue.");
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_services.GetService<BrokerAdmin>() is not { } admin)
        {
            return;
        }

        using var timer = new PeriodicTimer(SampleInterval);
        do
        {
            try
            {
                _poison = await admin.ReadyCountAsync(Topology.PoisonQueue, stoppingToken) is { } poison ? poison : -1;
                _intakeDeadLetters = await admin.ReadyCountAsync(Topology.IntakeErrorQueue, stoppingToken) ?? 0;
                _intake = await admin.ReadyCountAsync(Topology.IntakeQueue, stoppingToken) ?? 0;
                foreach (var route in _targets.Routes)
                {
                    _depths[(route.Name, "ready")] = await admin.ReadyCountAsync(route.QueueName, stoppingToken) ?? 0;
                    _depths[(route.Name, "dead_lettered")] = await admin.ReadyCountAsync(Topology.TargetErrorQueue(route.Name), stoppingToken) ?? 0;
                    long waiting = 0;
                    foreach (var delay in route.Options.Redelivery.Schedule.Distinct())
                    {
                        waiting += await admin.ReadyCountAsync(Topology.DelayQueue(route.Name, delay), stoppingToken) ?? 0;
                    }

                    _depths[(route.Name, "retry_waiting")] = waiting;
                }
            }
            catch (Exception exception) when (exception is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                LogSampleFailed(_logger, exception.Message);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    private static KeyValuePair<string, object?> Tag(string key, string value) => new(key, value);

    [LoggerMessage(EventId = 2401, Level = LogLevel.Debug, Message = "Could not sample queue depths from the broker: {Error}")]
    private static partial void LogSampleFailed(ILogger logger, string error);
}

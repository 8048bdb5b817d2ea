using RabbitMQ.Client;
using SyncWorker.Contracts;
using SyncWorker.Messaging.Broker;

namespace SyncWorker.Operations.Status;

/// <summary>A queue's depth as <c>status</c> shows it.</summary>
/// <param name="Queue">The queue's name.</param>
/// <param name="Exists">False when the queue is not declared (yet); the counts are then null.</param>
/// <param name="Ready">Ready messages (not those a consumer holds unacknowledged).</param>
/// <param name="Consumers">Consumers of the queue.</param>
internal sealed record QueueDepth(string Queue, bool Exists, uint? Ready, uint? Consumers)
{
    public static QueueDepth Of(string queue, QueueState? state) => new(queue, state is not null, state?.Messages, state?.Consumers);
}

/// <summary>What the broker knows of one target.</summary>
/// <param name="Name">The target.</param>
/// <param name="Paused">True while <see cref="Topology.PausedMarker"/> exists.</param>
/// <param name="Disabled">True while <see cref="Topology.DisabledMarker"/> exists (disabled for failing).</param>
/// <param name="Queue">The target queue: deliveries waiting for a forwarder, and the forwarders consuming it.</param>
/// <param name="EarlierDelayQueues">The per-target delay queues of earlier versions that still exist
/// (<see cref="Topology.TargetDelayQueues"/>).</param>
/// <param name="ErrorQueue">Its dead letters.</param>
internal sealed record TargetBrokerState(
    string Name, bool Paused, QueueDepth Queue, IReadOnlyList<QueueDepth> EarlierDelayQueues, QueueDepth ErrorQueue, bool Disabled = false);

/// <summary>
/// What the broker knows: the intake queue (and its dead letters), each target, the shared delay queues of the targets'
/// schedules that exist, and <see cref="Topology.PoisonQueue"/> (not existing unless the deploy/rabbitmq definitions are
/// applied).
/// </summary>
internal sealed record BrokerSnapshot(
    QueueDepth Intake, QueueDepth IntakeErrors, IReadOnlyList<TargetBrokerState> Targets, QueueDepth Poison, IReadOnlyList<QueueDepth> DelayQueues);

/// <summary>
/// Reads <see cref="BrokerSnapshot"/> with passive declares only (<see cref="QueueProbe"/>): nothing is created, consumed
/// or changed, and a missing queue is reported as such.
/// </summary>
internal static class BrokerStatusReader
{
    public static async Task<BrokerSnapshot> ReadAsync(
        IConnection connection, IReadOnlyList<StatusTarget> targets, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(targets);

        var intake = await ProbeAsync(connection, Topology.IntakeQueue, cancellationToken);
        var intakeErrors = await ProbeAsync(connection, Topology.IntakeQueue + Topology.ErrorQueueSuffix, cancellationToken);
        var states = new List<TargetBrokerState>(targets.Count);
        foreach (var target in targets)
        {
            var paused = await QueueProbe.ProbeAsync(connection, Topology.PausedMarker(target.Name), cancellationToken) is not null;
            var queue = await ProbeAsync(connection, Topology.TargetQueue(target.Name), cancellationToken);
            var delays = new List<QueueDepth>();
            foreach (var delayQueue in target.EarlierDelayQueues())
            {
                var depth = await ProbeAsync(connection, delayQueue, cancellationToken);
                if (depth.Exists)
                {
                    delays.Add(depth);
                }
            }

            var errors = await ProbeAsync(connection, Topology.TargetErrorQueue(target.Name), cancellationToken);
            var disabled = await QueueProbe.ProbeAsync(connection, Topology.DisabledMarker(target.Name), cancellationToken) is not null;
            states.Add(new TargetBrokerState(target.Name, paused, queue, delays, errors, disabled));
        }

        var shared = new List<QueueDepth>();
        foreach (var delayQueue in targets.SelectMany(target => target.DelayQueues()).Distinct(StringComparer.Ordinal)
            .OrderBy(name => long.Parse(name[Topology.DelayQueuePrefix.Length..^1], System.Globalization.CultureInfo.InvariantCulture)))
        {
            var depth = await ProbeAsync(connection, delayQueue, cancellationToken);
            if (depth.Exists)
            {
                shared.Add(depth);
            }
        }

        var poison = await ProbeAsync(connection, Topology.PoisonQueue, cancellationToken);
        return new BrokerSnapshot(intake, intakeErrors, states, poison, shared);
    }

    private static async Task<QueueDepth> ProbeAsync(IConnection connection, string queue, CancellationToken cancellationToken) =>
        QueueDepth.Of(queue, await QueueProbe.ProbeAsync(connection, queue, cancellationToken));
}

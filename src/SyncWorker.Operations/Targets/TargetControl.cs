using RabbitMQ.Client;
using SyncWorker.Messaging;
using SyncWorker.Contracts;
using SyncWorker.Messaging.Broker;

namespace SyncWorker.Operations.Targets;

/// <summary>One target's state in the broker.</summary>
/// <param name="Target">The configured target name.</param>
/// <param name="Paused">True while the marker queue <see cref="Topology.PausedMarker"/> exists.</param>
/// <param name="Queue">The target queue, <c>syncworker.target.{name}</c>.</param>
/// <param name="Ready">Ready messages in the target queue; null when the queue does not exist yet.</param>
/// <param name="Consumers">Consumers (forwarders) of the target queue; null when the queue does not exist yet.</param>
/// <param name="ErrorQueue">The dead-letter queue, <c>syncworker.target.{name}_error</c>.</param>
/// <param name="DeadLetters">Messages in the target's dead-letter queue (0 when it does not exist).</param>
internal sealed record TargetStatus(
    string Target,
    bool Paused,
    string Queue,
    uint? Ready,
    uint? Consumers,
    string ErrorQueue,
    uint DeadLetters);

/// <summary>What <see cref="TargetControl.PauseAsync"/> or <see cref="TargetControl.ResumeAsync"/> did.</summary>
internal enum PauseChange
{
    Changed,
    AlreadySo,
}

/// <summary>
/// Pauses and resumes targets through a marker queue: while <c>syncworker.paused.{name}</c> exists, forwarders stop
/// consuming the target's queue, which keeps filling. The marker is a durable classic queue with <c>x-max-length</c> 0,
/// so nothing can accumulate in it; it is state, not a mailbox. It has the configured queue type: in a cluster a quorum
/// marker survives the loss of a node, where a classic one would vanish (and the pause with it) while its node is down.
/// </summary>
internal static class TargetControl
{
    /// <summary>The marker queue's arguments: no message can be kept; the type is <c>RabbitMq:QueueType</c>.</summary>
    public static IDictionary<string, object?> MarkerArguments(QueueType queueType = QueueType.Classic) =>
        QueueArguments.For(queueType, [KeyValuePair.Create<string, object?>("x-max-length", 0)]);

    /// <summary>Declares the marker; idempotent (an existing marker, whatever its arguments, is left as it is).</summary>
    public static async Task<PauseChange> PauseAsync(
        IConnection connection, string target, CancellationToken cancellationToken, QueueType queueType = QueueType.Classic)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var marker = Topology.PausedMarker(target);
        if (await QueueProbe.ProbeAsync(connection, marker, cancellationToken) is not null)
        {
            return PauseChange.AlreadySo;
        }

        await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        await channel.QueueDeclareAsync(
            marker, durable: true, exclusive: false, autoDelete: false, arguments: MarkerArguments(queueType), cancellationToken: cancellationToken);
        return PauseChange.Changed;
    }

    /// <summary>Deletes the marker; idempotent.</summary>
    public static async Task<PauseChange> ResumeAsync(IConnection connection, string target, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var marker = Topology.PausedMarker(target);
        if (await QueueProbe.ProbeAsync(connection, marker, cancellationToken) is null)
        {
            return PauseChange.AlreadySo;
        }

        await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        await channel.QueueDeleteAsync(marker, ifUnused: false, ifEmpty: false, cancellationToken: cancellationToken);
        return PauseChange.Changed;
    }

    public static async Task<TargetStatus> StatusAsync(IConnection connection, string target, CancellationToken cancellationToken)
    {
        var paused = await QueueProbe.ProbeAsync(connection, Topology.PausedMarker(target), cancellationToken) is not null;
        var queue = await QueueProbe.ProbeAsync(connection, Topology.TargetQueue(target), cancellationToken);
        var errors = await QueueProbe.ProbeAsync(connection, Topology.TargetErrorQueue(target), cancellationToken);
        return new TargetStatus(
            target,
            paused,
            Topology.TargetQueue(target),
            queue?.Messages,
            queue?.Consumers,
            Topology.TargetErrorQueue(target),
            errors?.Messages ?? 0);
    }
}

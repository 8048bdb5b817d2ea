using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using SyncWorker.Contracts;
using SyncWorker.Messaging.Broker;

namespace SyncWorker.Messaging.DeadLetters;

/// <summary>A delivery a replay moved back, and the queue it was moved to.</summary>
public sealed record MovedDelivery(string? MessageId, string? EventId, string? DeliveryId, string Queue);

/// <summary>
/// How far the replay of one source queue got: a target's error queue, or <see cref="Topology.PoisonQueue"/>. Updated as
/// it runs, so a failed replay still reports what it moved.
/// </summary>
public sealed class ReplayTally
{
    /// <summary>The name <see cref="Target"/> has for the poison queue in progress lines and summaries.</summary>
    public const string PoisonName = "poison";

    private readonly IReadOnlySet<string> _poisonDestinations;

    /// <summary><c>--force</c>: the moved messages are sent even when the delivery ledger records them as delivered.</summary>
    public bool Force { get; init; }

    /// <summary>Called after each move, once the original is acknowledged: the dead letter as read, and where it went.</summary>
    public Action<DeadLetter, MovedDelivery>? OnMoved { get; init; }

    /// <summary>The replay of one target's error queue back to its target queue.</summary>
    public ReplayTally(string target, uint deadLettersAtStart)
        : this(target, Topology.TargetErrorQueue(target), Topology.TargetQueue(target), deadLettersAtStart, new HashSet<string>())
    {
    }

    private ReplayTally(string target, string errorQueue, string? targetQueue, uint deadLettersAtStart, IReadOnlySet<string> poisonDestinations)
    {
        Target = target;
        ErrorQueue = errorQueue;
        TargetQueue = targetQueue;
        DeadLettersAtStart = deadLettersAtStart;
        _poisonDestinations = poisonDestinations;
    }

    /// <summary>
    /// The replay of the poison queue: each message goes back to the queue its latest <c>x-death</c> names, when that is
    /// one of <paramref name="destinations"/>; any other message is left in place.
    /// </summary>
    public static ReplayTally ForPoison(
        IReadOnlySet<string> destinations, uint deadLettersAtStart, bool force, Action<DeadLetter, MovedDelivery>? onMoved = null) =>
        new(PoisonName, Topology.PoisonQueue, null, deadLettersAtStart, destinations) { Force = force, OnMoved = onMoved };

    /// <summary>The target, or <see cref="PoisonName"/>.</summary>
    public string Target { get; }

    /// <summary>The queue replayed from: the target's error queue, or the poison queue.</summary>
    public string ErrorQueue { get; }

    /// <summary>The target queue; null for the poison queue, whose messages each go back where they came from.</summary>
    public string? TargetQueue { get; }

    public bool IsPoison => TargetQueue is null;

    /// <summary>The error queue's message count when the replay started: the most it examines.</summary>
    public uint DeadLettersAtStart { get; }

    public int Examined { get; set; }

    public int Moved => MovedDeliveries.Count;

    /// <summary>Examined but left in the error queue because they did not match.</summary>
    public int Skipped => Examined - Moved;

    /// <summary>
    /// Dead letters this replay set out to move (they match, and were there when it started) that were still in the queue
    /// when it ended: another list or replay held them while this one ran. Any is a failure (exit 1).
    /// </summary>
    public int StillThere { get; set; }

    /// <summary>True when another list or replay kept holding messages so long that what is still there could not be checked.</summary>
    public bool Unchecked { get; set; }

    public List<MovedDelivery> MovedDeliveries { get; } = [];

    /// <summary>
    /// When the message was dead-lettered: for a target's dead letter the forwarder's <c>SyncWorker-Failed-At</c> (or
    /// MassTransit's <c>MT-Fault-Timestamp</c>); for a poison message RabbitMQ's latest <c>x-death</c> time, else those.
    /// Null when the message carries none.
    /// </summary>
    public DateTimeOffset? DeadLetteredAt(DeadLetter deadLetter)
    {
        ArgumentNullException.ThrowIfNull(deadLetter);
        return IsPoison ? deadLetter.Death?.Time ?? deadLetter.FailedAt : deadLetter.FailedAt;
    }

    /// <summary>Where a dead letter goes back to, or null when this replay leaves it in place whatever it matches.</summary>
    public string? DestinationOf(DeadLetter deadLetter)
    {
        ArgumentNullException.ThrowIfNull(deadLetter);
        return TargetQueue
            ?? (deadLetter.Death?.Queue is { } source && _poisonDestinations.Contains(source) ? source : null);
    }
}

/// <summary>
/// Moves dead letters of one target from <c>syncworker.target.{name}_error</c> back to <c>syncworker.target.{name}</c>;
/// or poison messages from <c>syncworker.poison</c> back to the queue their latest <c>x-death</c> names (the intake queue
/// or a target queue), the same way.
/// </summary>
/// <remarks>
/// <para>
/// <b>Each dead letter is moved at most once, even when replays run at the same time.</b> A replay takes each message
/// with <c>basic.get</c> without acknowledging it, so the broker hands it to exactly one replay (or list) at a time and
/// no other replay can see it while it is held. The copy is published to the target queue through the default
/// exchange, mandatory and with publisher confirms; the original is acknowledged (removed) only after the broker
/// confirmed the copy into the target queue. A copy that is returned or not confirmed makes the replay stop and leaves
/// the original in the error queue. Messages the replay examines but does not move stay unacknowledged until it ends;
/// closing its channel then puts them back in their original position. A concurrent replay therefore never sees them
/// while they are held: it stops early and leaves them for a later run.
/// </para>
/// <para>
/// <b>The remaining window is at-least-once, not exactly-once.</b> If the process dies (or is cancelled) after the
/// broker confirmed the copy but before the acknowledgement of the original reached it, the broker requeues the
/// original: the delivery is then in both queues. Both copies carry the same <c>webhook-id</c> (the delivery id), so
/// the target drops the repeat, as it does for every retry.
/// </para>
/// <para>
/// A replay examines at most the error queue's message count at its start, so a delivery that fails again while the
/// replay runs (and lands at the end of the error queue) is not replayed in a loop.
/// </para>
/// </remarks>
public static class DeadLetterReplayer
{
    /// <summary>How long a replay waits, at its end, for other lists and replays to hand back what they hold.</summary>
    public static readonly TimeSpan OtherReadersDeadline = TimeSpan.FromSeconds(60);

    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// A dead letter that failed this shortly before the replay started may have reached the queue only after the replay
    /// counted it (the forwarder stamps the time, then publishes), or come from a worker whose clock is slightly behind:
    /// it is left to the next replay, not reported as still there.
    /// </summary>
    public static readonly TimeSpan InFlightMargin = TimeSpan.FromSeconds(5);

    /// <summary>A quorum queue takes back what a closed channel held a moment later.</summary>
    private static readonly TimeSpan SettleDelay = TimeSpan.FromMilliseconds(300);

    public static async Task ReplayAsync(
        IConnection connection,
        ReplayTally tally,
        Func<DeadLetter, bool> matches,
        DateTimeOffset startedAt,
        TimeProvider timeProvider,
        Action<ReplayTally>? progress,
        CancellationToken cancellationToken)
    {
        // Checks its arguments first.
        await MoveMatchingAsync(connection, tally, matches, timeProvider, progress, cancellationToken);
        await CheckWhatIsLeftAsync(connection, tally, matches, startedAt, timeProvider, cancellationToken);
    }

    /// <summary>
    /// The first half of <see cref="ReplayAsync"/>: moves the matching dead letters among the first
    /// <see cref="ReplayTally.DeadLettersAtStart"/> of the source queue, holding the others until it is done with that
    /// queue, without checking afterwards what a concurrent reader kept it from seeing (what the forwarders' uninstall
    /// sweep does: what it could not see is left for its next round).
    /// </summary>
    /// <exception cref="DeadLetterReplayException">The destination does not exist, or a copy was returned or not confirmed.</exception>
    public static async Task MoveMatchingAsync(
        IConnection connection,
        ReplayTally tally,
        Func<DeadLetter, bool> matches,
        TimeProvider timeProvider,
        Action<ReplayTally>? progress,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(tally);
        ArgumentNullException.ThrowIfNull(matches);
        ArgumentNullException.ThrowIfNull(timeProvider);
        if (tally.DeadLettersAtStart == 0)
        {
            return;
        }

        if (tally.TargetQueue is { } targetQueue && await QueueProbe.ProbeAsync(connection, targetQueue, cancellationToken) is null)
        {
            throw new DeadLetterReplayException(
                $"The queue {targetQueue} of target '{tally.Target}' does not exist, so nothing was replayed to it. " +
                "Start the worker (role All or Forwarder) once so it declares its queues, then replay again.");
        }

        var presence = await ReaderPresence.RegisterAsync(connection, cancellationToken);
        var channel = await connection.CreateChannelAsync(
            new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true),
            cancellationToken);
        try
        {
            while (tally.Examined < tally.DeadLettersAtStart)
            {
                // Null: the queue is empty, or what is left is held by a concurrent replay or list.
                if (await channel.BasicGetAsync(tally.ErrorQueue, autoAck: false, cancellationToken) is not { } message)
                {
                    break;
                }

                tally.Examined++;
                var deadLetter = DeadLetter.Read(message.BasicProperties, message.Body);
                if (tally.DestinationOf(deadLetter) is { } destination && matches(deadLetter))
                {
                    await MoveAsync(channel, tally, destination, message, deadLetter, timeProvider.GetUtcNow(), cancellationToken);
                }

                // A message not moved stays unacknowledged (held) until the channel closes.
                progress?.Invoke(tally);
            }
        }
        finally
        {
            await Channels.CloseAndDisposeAsync(channel);
            await presence.DisposeAsync();
        }
    }

    /// <summary>
    /// Waits until no other list or replay holds messages (they hand them back when they end), then counts in
    /// <see cref="ReplayTally.StillThere"/> the dead letters this replay set out to move that are still in the queue.
    /// </summary>
    private static async Task CheckWhatIsLeftAsync(
        IConnection connection, ReplayTally tally, Func<DeadLetter, bool> matches, DateTimeOffset startedAt, TimeProvider timeProvider, CancellationToken cancellationToken)
    {
        var waitedOnOthers = false;
        var waitingSince = timeProvider.GetTimestamp();
        while (await ReaderPresence.CountAsync(connection, cancellationToken) > 0)
        {
            waitedOnOthers = true;
            if (timeProvider.GetElapsedTime(waitingSince) > OtherReadersDeadline)
            {
                tally.Unchecked = true;
                break;
            }

            await Task.Delay(PollInterval, cancellationToken);
        }

        if (waitedOnOthers || tally.Examined < tally.DeadLettersAtStart)
        {
            await Task.Delay(SettleDelay, cancellationToken);
        }

        if (await QueueProbe.ProbeAsync(connection, tally.ErrorQueue, cancellationToken) is { Messages: > 0 })
        {
            tally.StillThere = await CountStillThereAsync(connection, tally, matches, startedAt, cancellationToken);
        }
    }

    /// <summary>
    /// Reads the source queue as a list does (held, then handed back in place) and counts the dead letters this replay set
    /// out to move: they match, have a destination, failed (or died) at least <see cref="InFlightMargin"/> before the replay
    /// started, and were not replayed since (a delivery this or a concurrent replay moved that failed again is a new dead letter, for the next replay).
    /// </summary>
    private static async Task<int> CountStillThereAsync(
        IConnection connection, ReplayTally tally, Func<DeadLetter, bool> matches, DateTimeOffset startedAt, CancellationToken cancellationToken)
    {
        var stillThere = 0;
        await using var presence = await ReaderPresence.RegisterAsync(connection, cancellationToken);
        var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        try
        {
            while (await channel.BasicGetAsync(tally.ErrorQueue, autoAck: false, cancellationToken) is { } message)
            {
                var deadLetter = DeadLetter.Read(message.BasicProperties, message.Body);
                var failedAt = tally.DeadLetteredAt(deadLetter);
                if (tally.DestinationOf(deadLetter) is not null
                    && matches(deadLetter)
                    && (failedAt is null || failedAt <= startedAt - InFlightMargin)
                    && (deadLetter.ReplayedAt is null || deadLetter.ReplayedAt < startedAt))
                {
                    stillThere++;
                }
            }
        }
        finally
        {
            await Channels.CloseAndDisposeAsync(channel);
        }

        return stillThere;
    }

    private static async Task MoveAsync(
        IChannel channel,
        ReplayTally tally,
        string destination,
        BasicGetResult message,
        DeadLetter deadLetter,
        DateTimeOffset replayedAt,
        CancellationToken cancellationToken)
    {
        var properties = ReplayHeaders.ForReplay(message.BasicProperties, replayedAt, tally.Force);
        try
        {
            // Completes only when the broker confirmed the copy into the destination queue; throws on a return or nack.
            await channel.BasicPublishAsync(
                exchange: string.Empty,
                routingKey: destination,
                mandatory: true,
                basicProperties: properties,
                body: message.Body.ToArray(),
                cancellationToken);
        }
        catch (PublishException exception)
        {
            throw new DeadLetterReplayException(
                $"RabbitMQ {(exception.IsReturn ? "returned" : "did not confirm")} the replayed delivery " +
                $"{deadLetter.DeliveryId ?? deadLetter.EventId ?? deadLetter.MessageId} for {destination}; it stays in {tally.ErrorQueue}. " +
                (exception.IsReturn
                    ? $"No queue took it: check that {destination} exists, then replay again."
                    : "Check the broker's alarms and logs, then replay again."));
        }

        // Not cancellable: once the copy is confirmed, removing the original is what keeps the move single.
        await channel.BasicAckAsync(message.DeliveryTag, multiple: false, CancellationToken.None);
        var moved = new MovedDelivery(deadLetter.MessageId, deadLetter.EventId, deadLetter.DeliveryId, destination);
        tally.MovedDeliveries.Add(moved);
        tally.OnMoved?.Invoke(deadLetter, moved);
    }
}

/// <summary>
/// A replay (or sweep) stopped: a destination queue does not exist, or the broker returned or did not confirm a moved
/// copy. The message says which delivery and what to do; the original stays where it was.
/// </summary>
public sealed class DeadLetterReplayException(string message) : Exception(message);

using Microsoft.Extensions.Logging;
using SyncWorker.Contracts;
using SyncWorker.Forwarding.Targets;
using SyncWorker.Messaging;
using SyncWorker.Messaging.Broker;
using SyncWorker.Messaging.DeadLetters;

namespace SyncWorker.Forwarding.Installs;

/// <summary>What one sweep round did: dead letters moved, and whether some were out of its reach this time.</summary>
/// <param name="Moved">Dead letters moved back to their target queues.</param>
/// <param name="Incomplete">
/// A queue could not be read to the end (another list, replay or sweep held what was left) or a move failed: what was not
/// seen is left for the next round.
/// </param>
public sealed record SweepResult(int Moved, bool Incomplete);

/// <summary>The broker side of <see cref="UninstallSweeper"/>: one round over the dead-letter queues.</summary>
public interface IUninstalledDeadLetterSweep
{
    /// <summary>
    /// Moves the dead letters of <paramref name="accounts"/> (account and mode) out of every target's <c>_error</c> queue
    /// and out of <see cref="Topology.PoisonQueue"/> back to their target queues.
    /// </summary>
    /// <exception cref="Exception">The broker could not be reached or failed; nothing is lost (what was not moved stays).</exception>
    Task<SweepResult> SweepAsync(IReadOnlySet<(string Account, bool Livemode)> accounts, CancellationToken cancellationToken);
}

/// <summary>
/// Sweeps dead letters of uninstalled accounts with <see cref="DeadLetterReplayer.MoveMatchingAsync"/>, as
/// <c>dead-letters replay --account</c> does, on a RabbitMQ.Client connection of its own opened for the round (named
/// <c>{RabbitMq:ConnectionName}-sweep</c>). Each queue is read up to its message count at the start of its pass; a dead
/// letter of another account (or one whose account or mode cannot be read) is held only until that queue's pass ends,
/// then goes back in its place. A poison message goes back only to the target queue its latest <c>x-death</c> names, when
/// that is a target this forwarder knows; intake poison stays. Several forwarders may sweep at once: the broker hands each
/// message to one reader at a time, a move publishes a confirmed copy before removing the original, and a copy left twice
/// by a crash is ended once by the delivery ledger.
/// </summary>
public sealed partial class UninstalledDeadLetterSweep(
    MessagingTransport transport, TargetRegistry targets, TimeProvider time, ILogger<UninstalledDeadLetterSweep> logger) : IUninstalledDeadLetterSweep
{
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);

    /// <inheritdoc />
    public async Task<SweepResult> SweepAsync(IReadOnlySet<(string Account, bool Livemode)> accounts, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(accounts);
        if (transport.RabbitMq is not { } endpoint || accounts.Count == 0)
        {
            return new SweepResult(0, Incomplete: false);
        }

        var routes = targets.Routes;
        bool Matches(DeadLetter deadLetter) =>
            deadLetter.Account is { Length: > 0 } account && deadLetter.Livemode is { } livemode && accounts.Contains((account, livemode));

        await using var connection = await RabbitMqConnections.OpenAsync(
            endpoint, transport.Nodes, transport.ConnectionName + "-sweep", recover: false, ConnectTimeout, cancellationToken).ConfigureAwait(false);
        var moved = 0;
        var incomplete = false;
        foreach (var route in routes)
        {
            if (await QueueProbe.ProbeAsync(connection, Topology.TargetErrorQueue(route.Name), cancellationToken).ConfigureAwait(false) is not { Messages: > 0 } state)
            {
                continue;
            }

            var source = Topology.TargetErrorQueue(route.Name);
            var tally = new ReplayTally(route.Name, state.Messages) { OnMoved = (deadLetter, move) => LogMove(source, deadLetter, move) };
            incomplete |= !await PassAsync(connection, tally, Matches, cancellationToken).ConfigureAwait(false);
            moved += tally.Moved;
        }

        if (await QueueProbe.ProbeAsync(connection, Topology.PoisonQueue, cancellationToken).ConfigureAwait(false) is { Messages: > 0 } poison)
        {
            var destinations = routes.Select(route => Topology.TargetQueue(route.Name)).ToHashSet(StringComparer.Ordinal);
            var tally = ReplayTally.ForPoison(
                destinations, poison.Messages, force: false, (deadLetter, move) => LogMove(Topology.PoisonQueue, deadLetter, move));
            incomplete |= !await PassAsync(connection, tally, Matches, cancellationToken).ConfigureAwait(false);
            moved += tally.Moved;
        }

        return new SweepResult(moved, incomplete);
    }

    /// <summary>One queue's pass; false when it did not get through what was there at its start.</summary>
    private async Task<bool> PassAsync(
        RabbitMQ.Client.IConnection connection, ReplayTally tally, Func<DeadLetter, bool> matches, CancellationToken cancellationToken)
    {
        try
        {
            await DeadLetterReplayer.MoveMatchingAsync(connection, tally, matches, time, progress: null, cancellationToken).ConfigureAwait(false);
        }
        catch (DeadLetterReplayException exception)
        {
            LogPassFailed(logger, tally.ErrorQueue, exception.Message);
            return false;
        }

        return tally.Examined >= tally.DeadLettersAtStart;
    }

    private void LogMove(string source, DeadLetter deadLetter, MovedDelivery moved) =>
        LogMoved(
            logger,
            moved.DeliveryId ?? "(none)",
            moved.EventId ?? "(none)",
            source,
            moved.Queue,
            deadLetter.Account!,
            deadLetter.Livemode == true ? "live" : "test");

    [LoggerMessage(EventId = 2602, Level = LogLevel.Information,
        Message = "Dead letter {DeliveryId} of event {EventId} moved from {SourceQueue} back to {TargetQueue}: account {UninstalledAccount} uninstalled the app in {Mode} mode, so it ends as skipped")]
    private static partial void LogMoved(ILogger logger, string deliveryId, string eventId, string sourceQueue, string targetQueue, string uninstalledAccount, string mode);

    [LoggerMessage(EventId = 2603, Level = LogLevel.Warning,
        Message = "The uninstall sweep of {SourceQueue} stopped ({Problem}); what it did not move stays there for its next round")]
    private static partial void LogPassFailed(ILogger logger, string sourceQueue, string problem);
}

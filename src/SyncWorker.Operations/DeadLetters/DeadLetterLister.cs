using RabbitMQ.Client;
using SyncWorker.Contracts;
using SyncWorker.Messaging.Broker;
using SyncWorker.Messaging.DeadLetters;

namespace SyncWorker.Operations.DeadLetters;

/// <summary>One target's dead-letter queue as listed: its message count and the first messages, oldest first.</summary>
internal sealed record DeadLetterListing(string Target, string Queue, bool QueueExists, uint Count, IReadOnlyList<DeadLetter> DeadLetters);

/// <summary>
/// <see cref="Topology.PoisonQueue"/> as listed: <paramref name="Count"/> is its message count, or with a source filter the
/// number of its messages from those queues; the first of them, oldest first.
/// </summary>
internal sealed record PoisonListing(string Queue, bool QueueExists, uint Count, IReadOnlyList<DeadLetter> DeadLetters);

/// <summary>
/// Lists dead letters without removing or reordering them. It takes up to <c>limit</c> messages with
/// <c>basic.get</c> without acknowledging them, reads them, then closes its channel: the broker puts every one back
/// in its original position. While a list runs it holds those messages briefly, so a replay running at the same time
/// does not see them (and leaves them for a later replay); forwarders never consume dead-letter queues, nor the poison
/// queue.
/// </summary>
internal static class DeadLetterLister
{
    public static async Task<DeadLetterListing> ListAsync(IConnection connection, string target, int limit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);

        var queue = Topology.TargetErrorQueue(target);
        var state = await QueueProbe.ProbeAsync(connection, queue, cancellationToken);
        if (state is null)
        {
            return new DeadLetterListing(target, queue, QueueExists: false, Count: 0, DeadLetters: []);
        }

        var wanted = Math.Min((long)limit, state.Messages);
        var deadLetters = new List<DeadLetter>();
        var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        try
        {
            while (deadLetters.Count < wanted
                && await channel.BasicGetAsync(queue, autoAck: false, cancellationToken) is { } message)
            {
                deadLetters.Add(DeadLetter.Read(message.BasicProperties, message.Body));
            }
        }
        finally
        {
            await Channels.CloseAndDisposeAsync(channel);
        }

        return new DeadLetterListing(target, queue, QueueExists: true, state.Messages, deadLetters);
    }

    /// <summary>
    /// Lists <see cref="Topology.PoisonQueue"/> the same way. With <paramref name="sourceQueues"/>, only messages whose
    /// latest <c>x-death</c> names one of those queues are listed and counted; every message of the queue is then
    /// examined (and held until the listing ends), since any of them may match.
    /// </summary>
    public static async Task<PoisonListing> ListPoisonAsync(
        IConnection connection, IReadOnlySet<string>? sourceQueues, int limit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);

        var queue = Topology.PoisonQueue;
        var state = await QueueProbe.ProbeAsync(connection, queue, cancellationToken);
        if (state is null)
        {
            return new PoisonListing(queue, QueueExists: false, Count: 0, DeadLetters: []);
        }

        var examine = sourceQueues is null ? Math.Min((long)limit, state.Messages) : state.Messages;
        var examined = 0L;
        uint matched = 0;
        var deadLetters = new List<DeadLetter>();
        var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        try
        {
            while (examined < examine && await channel.BasicGetAsync(queue, autoAck: false, cancellationToken) is { } message)
            {
                examined++;
                var deadLetter = DeadLetter.Read(message.BasicProperties, message.Body);
                if (sourceQueues is not null && (deadLetter.Death?.Queue is not { } source || !sourceQueues.Contains(source)))
                {
                    continue;
                }

                matched++;
                if (deadLetters.Count < limit)
                {
                    deadLetters.Add(deadLetter);
                }
            }
        }
        finally
        {
            await Channels.CloseAndDisposeAsync(channel);
        }

        return new PoisonListing(queue, QueueExists: true, sourceQueues is null ? state.Messages : matched, deadLetters);
    }
}

using RabbitMQ.Client;
using SyncWorker.Contracts;
using SyncWorker.Operations.Broker;

namespace SyncWorker.Operations.DeadLetters;

/// <summary>One target's dead-letter queue as listed: its message count and the first messages, oldest first.</summary>
internal sealed record DeadLetterListing(string Target, string Queue, bool QueueExists, uint Count, IReadOnlyList<DeadLetter> DeadLetters);

/// <summary>
/// Lists dead letters without removing or reordering them. It takes up to <c>limit</c> messages with
/// <c>basic.get</c> without acknowledging them, reads them, then closes its channel: the broker puts every one back
/// in its original position. While a list runs it holds those messages briefly, so a replay running at the same time
/// does not see them (and leaves them for a later replay); forwarders never consume dead-letter queues.
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
}

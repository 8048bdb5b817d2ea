using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace SyncWorker.Messaging.Broker;

/// <summary>A queue's ready messages and consumers, as a passive declare reports them.</summary>
public sealed record QueueState(uint Messages, uint Consumers);

/// <summary>Looks at queues without creating them.</summary>
public static class QueueProbe
{
    private const ushort NotFound = 404;

    /// <summary>
    /// The queue's state by passive declare, or null when it does not exist. The broker closes a channel whose passive
    /// declare fails, so each probe uses a channel of its own.
    /// </summary>
    public static async Task<QueueState?> ProbeAsync(IConnection connection, string queue, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        try
        {
            var declared = await channel.QueueDeclarePassiveAsync(queue, cancellationToken);
            return new QueueState(declared.MessageCount, declared.ConsumerCount);
        }
        catch (OperationInterruptedException exception) when (exception.ShutdownReason?.ReplyCode == NotFound)
        {
            return null;
        }
    }
}

using RabbitMQ.Client;
using SyncWorker.Messaging.Broker;

namespace SyncWorker.Messaging.DeadLetters;

/// <summary>
/// Says "a list, replay or sweep is holding dead letters now" to the other readers: while it holds messages (which the
/// broker hides from everyone else until it lets them go), a <c>dead-letters list</c> or <c>replay</c>, or a forwarder's
/// uninstall sweep, is a consumer of the empty queue <see cref="Queue"/>. A replay that could not see every dead letter waits until no other reader is left before it
/// checks what is still there (see <see cref="DeadLetterReplayer"/>).
/// </summary>
/// <remarks>
/// The queue is a classic, non-durable queue with <c>x-max-length</c> 0 (nothing is ever published to it; its consumer
/// count is the point), declared on first use with the same arguments each time. A reader that dies leaves no trace:
/// the broker drops its consumer with its connection.
/// </remarks>
public sealed class ReaderPresence : IAsyncDisposable
{
    /// <summary>The queue whose consumers are the lists, replays and sweeps holding dead letters (its name predates the sweeps).</summary>
    public const string Queue = "syncworker.operations.readers";

    private static readonly Dictionary<string, object?> Arguments = new()
    {
        ["x-queue-type"] = "classic",
        ["x-max-length"] = 0,
    };

    private readonly IChannel _channel;

    private ReaderPresence(IChannel channel) => _channel = channel;

    /// <summary>Registers this process as a reader until disposed.</summary>
    public static async Task<ReaderPresence> RegisterAsync(IConnection connection, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        try
        {
            await channel.QueueDeclareAsync(Queue, durable: false, exclusive: false, autoDelete: false, Arguments, cancellationToken: cancellationToken);
            await channel.BasicConsumeAsync(Queue, autoAck: true, new RabbitMQ.Client.Events.AsyncEventingBasicConsumer(channel), cancellationToken);
            return new ReaderPresence(channel);
        }
        catch
        {
            await Channels.CloseAndDisposeAsync(channel);
            throw;
        }
    }

    /// <summary>How many readers are registered now (0 when none ever was).</summary>
    public static async Task<uint> CountAsync(IConnection connection, CancellationToken cancellationToken) =>
        (await QueueProbe.ProbeAsync(connection, Queue, cancellationToken))?.Consumers ?? 0;

    public async ValueTask DisposeAsync() => await Channels.CloseAndDisposeAsync(_channel);
}

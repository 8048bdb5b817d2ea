using RabbitMQ.Client;

namespace SyncWorker.LoadHarness;

/// <summary>
/// The ceiling: RabbitMQ.Client alone, publishing the same event bytes as persistent, mandatory messages to a durable
/// fanout exchange bound to a durable queue, on channels with publisher confirmations and confirmation tracking, so each
/// publish returns only once the broker confirmed it (as SyncWorker's receiver waits before answering 200).
/// No HTTP, no signature check, no envelope, no MassTransit.
/// </summary>
internal sealed class BarePublisher : IAsyncDisposable
{
    public const string Exchange = "bare.events";
    public const string Queue = "bare.intake";

    private readonly IConnection _connection;
    private readonly IChannel[] _channels;

    private BarePublisher(IConnection connection, IChannel[] channels)
    {
        _connection = connection;
        _channels = channels;
    }

    public static async Task<BarePublisher> StartAsync(Uri amqp, int channels)
    {
        var connection = await new ConnectionFactory { Uri = amqp, ClientProvidedName = "load-harness-bare" }.CreateConnectionAsync();
        var options = new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true);
        var opened = new IChannel[channels];
        for (var i = 0; i < channels; i++)
        {
            opened[i] = await connection.CreateChannelAsync(options);
        }

        await opened[0].ExchangeDeclareAsync(Exchange, ExchangeType.Fanout, durable: true, autoDelete: false);
        await opened[0].QueueDeclareAsync(Queue, durable: true, exclusive: false, autoDelete: false);
        await opened[0].QueueBindAsync(Queue, Exchange, "");
        return new BarePublisher(connection, opened);
    }

    public SendEvent Sender(EventSet events) => async (index, cancellationToken) =>
    {
        var properties = new BasicProperties
        {
            Persistent = true,
            ContentType = "application/json",
            MessageId = EventTemplate.EventId(events.Tag, index),
        };
        var channel = _channels[index % _channels.Length];
        await channel.BasicPublishAsync(Exchange, "", mandatory: true, properties, events.Bodies[index], cancellationToken);
        return 200;
    };

    public async ValueTask DisposeAsync()
    {
        foreach (var channel in _channels)
        {
            await channel.DisposeAsync();
        }

        await _connection.DisposeAsync();
    }
}

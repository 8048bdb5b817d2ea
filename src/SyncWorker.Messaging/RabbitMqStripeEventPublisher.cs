using System.Buffers;
using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;
using SyncWorker.Contracts;

namespace SyncWorker.Messaging;

/// <summary>
/// The receiver's publisher on RabbitMQ: <see cref="StripeEventReceived"/> as MassTransit's raw JSON to
/// <c>syncworker.events</c>, through SyncWorker's one <see cref="RabbitMqPublisher"/> (persistent, mandatory, confirmed,
/// a channel a publish failed on replaced, nodes in order), on a connection of its own
/// (<c>{RabbitMq:ConnectionName}-publisher</c>) on which the events exchange, the intake queue (of
/// <c>RabbitMq:QueueType</c>) and their binding are declared before its first publish. The intake endpoint reads the raw
/// JSON (<c>UseRawJsonDeserializer</c>) next to MassTransit's own envelope. A request that stops waiting (the client went
/// away) does not fail its publish or anyone else's: the publish goes on within its timeout.
/// </summary>
public sealed partial class RabbitMqStripeEventPublisher : IStripeEventPublisher, IAsyncDisposable
{
    /// <summary>Content type of the published message: MassTransit's raw JSON.</summary>
    public const string ContentType = RawJsonMessages.ContentType;

    /// <summary>Transport header MassTransit reads the message type of a raw JSON message from.</summary>
    public const string MessageTypeHeader = RawJsonMessages.MessageTypeHeader;

    /// <summary>MassTransit's name of <see cref="StripeEventReceived"/>.</summary>
    public const string MessageTypeUrn = RawJsonMessages.StripeEventReceivedType;

    /// <summary>Header carrying the Stripe event id in its original form (the message id is derived from it).</summary>
    public const string StripeEventIdHeader = MassTransitStripeEventPublisher.StripeEventIdHeader;

    /// <summary>MassTransit's header for the W3C trace parent of a message.</summary>
    public const string ActivityIdHeader = RawJsonMessages.ActivityIdHeader;

    /// <summary>Name of the producer span.</summary>
    public const string PublishActivityName = Topology.EventsExchange + " publish";

    /// <summary>The publish timeout of <see cref="PublishAsync(StripeEventReceived, CancellationToken)"/> (backfill).</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    private readonly RabbitMqPublisher _publisher;

    /// <summary>Publishes to the configured RabbitMQ nodes; connects on first use.</summary>
    public RabbitMqStripeEventPublisher(MessagingTransport transport, ILogger<RabbitMqStripeEventPublisher> logger)
        : this(transport, logger, TimeSpan.FromSeconds(5))
    {
    }

    /// <summary>As above, with the time each node gets to accept a connection.</summary>
    public RabbitMqStripeEventPublisher(MessagingTransport transport, ILogger<RabbitMqStripeEventPublisher> logger, TimeSpan connectTimeout)
    {
        ArgumentNullException.ThrowIfNull(transport);
        var queueType = transport.QueueType;
        _publisher = new RabbitMqPublisher(
            transport,
            "publisher",
            new RabbitMqPublisher.Declaration(
                $"exchange {Topology.EventsExchange} and queue {Topology.IntakeQueue}",
                async (channel, cancellationToken) =>
                {
                    await channel.ExchangeDeclareAsync(Topology.EventsExchange, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: cancellationToken).ConfigureAwait(false);
                    await channel.QueueDeclareAsync(Topology.IntakeQueue, durable: true, exclusive: false, autoDelete: false,
                        QueueArguments.For(queueType), cancellationToken: cancellationToken).ConfigureAwait(false);
                    await channel.QueueBindAsync(Topology.IntakeQueue, Topology.EventsExchange, "", cancellationToken: cancellationToken).ConfigureAwait(false);
                }),
            connectTimeout,
            TimeProvider.System,
            logger);
    }

    /// <summary>The node the current connection goes to, or null while there is none.</summary>
    public string? ConnectedNode => _publisher.ConnectedNode;

    /// <summary>Why the last connection attempt failed (broker text included, no credentials); null after a success.</summary>
    public string? LastFailure => _publisher.LastFailure;

    /// <summary>How many channels were closed after a failed publish, since start (for tests and diagnostics).</summary>
    public long ChannelsReplaced => _publisher.ChannelsReplaced;

    /// <inheritdoc />
    public Task PublishAsync(StripeEventReceived message, CancellationToken cancellationToken) =>
        PublishAsync(message, DefaultTimeout, cancellationToken);

    /// <inheritdoc />
    public Task PublishAsync(StripeEventReceived message, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        var body = PooledJson.Serialize(message);
        var outgoing = new OutgoingMessage(Topology.EventsExchange, body.Memory, MessageIds.ForStripeEvent(message.EventId).ToString(), MessageTypeUrn)
        {
            Timestamp = message.ReceivedAt,
            Headers = new Dictionary<string, object?>(1, StringComparer.Ordinal) { [StripeEventIdHeader] = message.EventId },
            Description = "event " + message.EventId,
        };
        // The pooled body goes back to the pool when the publish has ended, not when this caller stops waiting.
        return _publisher.PublishAsync(outgoing, timeout, body, cancellationToken);
    }

    /// <summary>
    /// Connects (or reuses the connection) and declares the topology, within <paramref name="cancellationToken"/>:
    /// the readiness check. Throws with the broker's reason when it cannot.
    /// </summary>
    public Task EnsureConnectedAsync(CancellationToken cancellationToken) => _publisher.EnsureConnectedAsync(cancellationToken);

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _publisher.DisposeAsync();

    /// <summary>The message serialized into a buffer rented from the shared pool, returned on dispose.</summary>
    private sealed class PooledJson : IBufferWriter<byte>, IDisposable
    {
        [ThreadStatic]
        private static Utf8JsonWriter? t_writer;

        private byte[] _buffer;
        private int _written;

        private PooledJson(int size) => _buffer = ArrayPool<byte>.Shared.Rent(size);

        public ReadOnlyMemory<byte> Memory => _buffer.AsMemory(0, _written);

        public static PooledJson Serialize(StripeEventReceived message)
        {
            // The payload dominates; escaping adds a little (every quote of the event JSON becomes \").
            var json = new PooledJson((message.Payload.Length * 5 / 4) + 512);
            var writer = t_writer ??= new Utf8JsonWriter(json);
            writer.Reset(json);
            try
            {
                JsonSerializer.Serialize(writer, message, RawJsonContext.Default.StripeEventReceived);
                writer.Flush();
            }
            finally
            {
                writer.Reset(Stream.Null);
            }

            return json;
        }

        public void Advance(int count) => _written += count;

        public Memory<byte> GetMemory(int sizeHint = 0)
        {
            Ensure(sizeHint);
            return _buffer.AsMemory(_written);
        }

        public Span<byte> GetSpan(int sizeHint = 0)
        {
            Ensure(sizeHint);
            return _buffer.AsSpan(_written);
        }

        public void Dispose()
        {
            var buffer = _buffer;
            _buffer = [];
            if (buffer.Length > 0)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        private void Ensure(int sizeHint)
        {
            if (_buffer.Length - _written >= Math.Max(sizeHint, 1))
            {
                return;
            }

            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, _written + sizeHint));
            _buffer.AsSpan(0, _written).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = larger;
        }
    }
}

/// <summary>The message (an event, a delivery) was not confirmed into a queue; the message says why and what happens next.</summary>
public sealed class EventNotQueuedException : Exception
{
    public EventNotQueuedException()
    {
    }

    public EventNotQueuedException(string message)
        : base(message)
    {
    }

    public EventNotQueuedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

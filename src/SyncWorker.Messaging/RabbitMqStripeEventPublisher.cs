using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;
using SyncWorker.Contracts;

namespace SyncWorker.Messaging;

/// <summary>
/// The receiver's publisher on RabbitMQ, written on RabbitMQ.Client rather than MassTransit's publish pipeline:
/// <list type="bullet">
/// <item>every publish is persistent, mandatory and waits for the broker's confirmation; a nack, a return (no queue bound),
/// a timeout or a lost connection is an exception, so the receiver answers 503 and Stripe retries;</item>
/// <item>the channel a publish failed on is closed and never used again. After a cluster node is lost, a quorum queue
/// can go on refusing one channel's publishes for about a minute (RabbitMQ 3.10, seen in the failover tests with
/// MassTransit, which keeps its channel); a fresh channel is accepted at once;</item>
/// <item>the connection goes to the configured nodes in order (<c>RabbitMq:Uri</c>, then <c>RabbitMq:Hosts</c>) and, when
/// it is lost, is opened again starting with the next node; before the first publish on a connection the events exchange
/// and the intake queue (of <c>RabbitMq:QueueType</c>) are declared and bound, so no publish precedes its queue;</item>
/// <item>the message is MassTransit's raw JSON (<c>application/json</c>, message type in <c>MT-MessageType</c>, message id
/// in the AMQP <c>message-id</c>), which the intake endpoint reads (<c>UseRawJsonDeserializer</c>) next to MassTransit's
/// own envelope.</item>
/// </list>
/// Publishes share <c>RabbitMq:PublisherChannels</c> channels (default 1): in the load harness one shared channel cost the
/// broker less CPU per event than a channel per concurrent publish (confirms come back in batches), and a receiver
/// accepted more events per second with it.
/// </summary>
public sealed partial class RabbitMqStripeEventPublisher : IStripeEventPublisher, IAsyncDisposable
{
    /// <summary>Content type of the published message: MassTransit's raw JSON.</summary>
    public const string ContentType = "application/json";

    /// <summary>Transport header MassTransit reads the message type of a raw JSON message from.</summary>
    public const string MessageTypeHeader = "MT-MessageType";

    /// <summary>MassTransit's name of <see cref="StripeEventReceived"/>.</summary>
    public const string MessageTypeUrn = "urn:message:SyncWorker.Contracts:StripeEventReceived";

    /// <summary>Header carrying the Stripe event id in its original form (the message id is derived from it).</summary>
    public const string StripeEventIdHeader = MassTransitStripeEventPublisher.StripeEventIdHeader;

    /// <summary>MassTransit's header for the W3C trace parent of a message.</summary>
    public const string ActivityIdHeader = "MT-Activity-Id";

    /// <summary>Name of the producer span.</summary>
    public const string PublishActivityName = "syncworker.events publish";

    private static readonly CreateChannelOptions ConfirmedChannel = new(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true);

    private readonly RabbitMqEndpoint _endpoint;
    private readonly IReadOnlyList<BrokerNode> _nodes;
    private readonly QueueType _queueType;
    private readonly int _channels;
    private readonly string _connectionName;
    private readonly TimeSpan _connectTimeout;
    private readonly ILogger _logger;
    private readonly Lock _sync = new();
    private Task<Session>? _session;
    private int _nextNode;
    private string? _lastFailure;
    private bool _disposed;

    /// <summary>Publishes to the configured RabbitMQ nodes; connects on first use.</summary>
    public RabbitMqStripeEventPublisher(MessagingTransport transport, ILogger<RabbitMqStripeEventPublisher> logger)
        : this(transport, logger, TimeSpan.FromSeconds(5))
    {
    }

    /// <summary>As above, with the time each node gets to accept a connection.</summary>
    public RabbitMqStripeEventPublisher(MessagingTransport transport, ILogger<RabbitMqStripeEventPublisher> logger, TimeSpan connectTimeout)
    {
        ArgumentNullException.ThrowIfNull(transport);
        ArgumentNullException.ThrowIfNull(logger);
        _endpoint = transport.RabbitMq ?? throw new InvalidOperationException("RabbitMqStripeEventPublisher needs RabbitMQ; the in-memory transport publishes with MassTransit.");
        _nodes = transport.Nodes.Count > 0 ? transport.Nodes : [new BrokerNode(_endpoint.Host, _endpoint.Port)];
        _queueType = transport.QueueType;
        _channels = transport.PublisherChannels;
        _connectionName = transport.ConnectionName + "-publisher";
        _connectTimeout = connectTimeout;
        _logger = logger;
    }

    /// <summary>The node the current connection goes to, or null while there is none.</summary>
    public string? ConnectedNode => _session is { IsCompletedSuccessfully: true } done && done.Result.IsOpen ? done.Result.Node : null;

    /// <summary>Why the last connection attempt failed (broker text included, no credentials); null after a success.</summary>
    public string? LastFailure => Volatile.Read(ref _lastFailure);

    /// <summary>How many channels were closed after a failed publish, since start (for tests and diagnostics).</summary>
    public long ChannelsReplaced => Interlocked.Read(ref _channelsReplaced);

    private long _channelsReplaced;

    /// <inheritdoc />
    public async Task PublishAsync(StripeEventReceived message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        ObjectDisposedException.ThrowIf(_disposed, this);
        using var body = PooledJson.Serialize(message);
        // A producer span (only when traces are collected); its id travels in MassTransit's header, so the intake
        // consumer's span joins the webhook's trace.
        using var activity = SyncWorkerTelemetry.Activities.StartActivity(PublishActivityName, ActivityKind.Producer);
        activity?.SetTag("messaging.system", "rabbitmq");
        activity?.SetTag("messaging.destination.name", Topology.EventsExchange);
        activity?.SetTag("messaging.operation.type", "publish");
        var session = await SessionAsync(cancellationToken).ConfigureAwait(false);
        var channel = await session.RentAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var properties = new BasicProperties
            {
                Persistent = true,
                ContentType = ContentType,
                MessageId = MessageIds.ForStripeEvent(message.EventId).ToString(),
                Timestamp = new AmqpTimestamp(message.ReceivedAt.ToUnixTimeSeconds()),
                Headers = new Dictionary<string, object?>(3, StringComparer.Ordinal)
                {
                    [MessageTypeHeader] = MessageTypeUrn,
                    [StripeEventIdHeader] = message.EventId,
                },
            };
            if ((activity ?? Activity.Current)?.Id is { } traceParent)
            {
                properties.Headers[ActivityIdHeader] = traceParent;
            }

            await channel.BasicPublishAsync(Topology.EventsExchange, "", mandatory: true, properties, body.Memory, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            // Whatever went wrong, this channel is not trusted again: a nacking or half-closed channel would refuse every
            // later publish too. The next publish opens a new one.
            if (session.Discard(channel))
            {
                Interlocked.Increment(ref _channelsReplaced);
                LogChannelReplaced(_logger, session.Node, exception.GetType().Name, exception.Message);
            }
            if (exception is PublishException { IsReturn: true })
            {
                // No queue took it: the intake queue or its binding is gone. Declaring happens per connection, so retire
                // this one; the next publish connects again and declares them.
                Retire(session);
            }

            throw Describe(exception, message.EventId);
        }

    }

    /// <summary>
    /// Connects (or reuses the connection) and declares the topology, within <paramref name="cancellationToken"/>:
    /// the readiness check. Throws with the broker's reason when it cannot.
    /// </summary>
    public async Task EnsureConnectedAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        await SessionAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        Task<Session>? session;
        lock (_sync)
        {
            _disposed = true;
            session = _session;
            _session = null;
        }

        if (session is { IsCompletedSuccessfully: true })
        {
            await session.Result.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Stops using <paramref name="session"/>: the next publish opens a new connection (and declares again).</summary>
    private void Retire(Session session)
    {
        lock (_sync)
        {
            if (_session is { IsCompletedSuccessfully: true } current && ReferenceEquals(current.Result, session))
            {
                _session = null;
            }
        }

        _ = session.DisposeAsync().AsTask();
    }

    /// <summary>The open session; no allocation on the common path.</summary>
    private Task<Session> SessionAsync(CancellationToken cancellationToken)
    {
        var current = Volatile.Read(ref _session);
        return current is { IsCompletedSuccessfully: true } && current.Result.IsOpen
            ? current
            : ReconnectAsync(cancellationToken);
    }

    /// <summary>
    /// Starts a connection attempt unless one is under way or open, and waits for it. The attempt is shared by every
    /// caller and not cancelled by any of them (each node's connect timeout bounds it); a caller whose token ends stops
    /// waiting.
    /// </summary>
    private Task<Session> ReconnectAsync(CancellationToken cancellationToken)
    {
        Task<Session> attempt;
        Session? lost = null;
        lock (_sync)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var current = _session;
            var usable = current is not null
                && (!current.IsCompleted || (current.IsCompletedSuccessfully && current.Result.IsOpen));
            if (!usable)
            {
                if (current is { IsCompletedSuccessfully: true })
                {
                    lost = current.Result;
                }

                _session = ConnectAsync();
            }

            attempt = _session!;
        }

        if (lost is not null)
        {
            _ = lost.DisposeAsync().AsTask();
        }

        return attempt.WaitAsync(cancellationToken);
    }

    private async Task<Session> ConnectAsync()
    {
        await Task.Yield();
        var first = Volatile.Read(ref _nextNode);
        IConnection connection;
        try
        {
            connection = await RabbitMqConnections.OpenAsync(
                _endpoint, _nodes, _connectionName, recover: false, _connectTimeout, CancellationToken.None, first).ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            var reason = $"no node of {string.Join(", ", _nodes)} accepted a connection ({Innermost(exception)})";
            Volatile.Write(ref _lastFailure, reason);
            LogConnectFailed(_logger, reason);
            throw new EventNotQueuedException($"RabbitMQ is unreachable: {reason}.", exception);
        }

        var node = connection.Endpoint.HostName + ":" + connection.Endpoint.Port.ToString(CultureInfo.InvariantCulture);
        var index = IndexOf(connection.Endpoint);
        try
        {
            using var timeout = new CancellationTokenSource(_connectTimeout * 2);
            await using (var channel = await connection.CreateChannelAsync(cancellationToken: timeout.Token).ConfigureAwait(false))
            {
                await channel.ExchangeDeclareAsync(Topology.EventsExchange, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: timeout.Token).ConfigureAwait(false);
                await channel.QueueDeclareAsync(Topology.IntakeQueue, durable: true, exclusive: false, autoDelete: false,
                    QueueArguments.For(_queueType), cancellationToken: timeout.Token).ConfigureAwait(false);
                await channel.QueueBindAsync(Topology.IntakeQueue, Topology.EventsExchange, "", cancellationToken: timeout.Token).ConfigureAwait(false);
            }
        }
        catch (Exception exception)
        {
            // The next attempt starts with the next node: this one may be the one that is failing.
            Volatile.Write(ref _nextNode, index + 1);
            var reason = $"node {node} did not declare exchange {Topology.EventsExchange} and queue {Topology.IntakeQueue} " +
                $"({Innermost(exception)})" + (Innermost(exception).Contains("inequivalent arg", StringComparison.Ordinal)
                    ? $"; the queue exists with other arguments: RabbitMq:QueueType must match it ({_queueType.ToString().ToLowerInvariant()} now), see README 'Changing the queue type'"
                    : "");
            Volatile.Write(ref _lastFailure, reason);
            LogConnectFailed(_logger, reason);
            await DisposeQuietlyAsync(connection).ConfigureAwait(false);
            throw new EventNotQueuedException($"RabbitMQ cannot take events: {reason}.", exception);
        }

        Volatile.Write(ref _lastFailure, null);
        if (Volatile.Read(ref _disposed))
        {
            // Disposed while connecting: nobody will close this connection later.
            await DisposeQuietlyAsync(connection).ConfigureAwait(false);
            throw new ObjectDisposedException(nameof(RabbitMqStripeEventPublisher));
        }

        connection.ConnectionShutdownAsync += (_, args) =>
        {
            // When this connection is lost, the next one starts with the node after it.
            Volatile.Write(ref _nextNode, index + 1);
            if (args.Initiator != ShutdownInitiator.Application)
            {
                LogConnectionLost(_logger, node, args.ReplyText);
            }

            return Task.CompletedTask;
        };
        LogConnected(_logger, node, _queueType == QueueType.Quorum ? "quorum" : "classic");
        return new Session(connection, node, _channels);
    }

    private int IndexOf(AmqpTcpEndpoint endpoint)
    {
        for (var i = 0; i < _nodes.Count; i++)
        {
            if (_nodes[i].Port == endpoint.Port && string.Equals(_nodes[i].Host, endpoint.HostName, StringComparison.OrdinalIgnoreCase))
            {
                return i;
            }
        }

        return 0;
    }

    private static EventNotQueuedException Describe(Exception exception, string eventId) => exception switch
    {
        EventNotQueuedException known => known,
        PublishException { IsReturn: true } => new EventNotQueuedException(
            $"RabbitMQ returned event {eventId}: no queue is bound to exchange {Topology.EventsExchange} (was {Topology.IntakeQueue} deleted?). " +
            "Nothing was queued; the next publish connects again and declares them.", exception),
        PublishException => new EventNotQueuedException(
            $"RabbitMQ refused (nacked) event {eventId}; the channel was replaced and nothing was queued.", exception),
        OperationCanceledException => new EventNotQueuedException(
            $"RabbitMQ did not confirm event {eventId} in time; the channel was replaced and the event may or may not be queued " +
            "(consumers drop a repeat by its id).", exception),
        _ => new EventNotQueuedException($"Event {eventId} was not confirmed by RabbitMQ: {Innermost(exception)}", exception),
    };

    private static string Innermost(Exception exception)
    {
        var inner = exception;
        while (inner.InnerException is not null)
        {
            inner = inner.InnerException;
        }

        return inner == exception ? exception.Message : $"{exception.Message} {inner.Message}";
    }

    private static async Task DisposeQuietlyAsync(IAsyncDisposable disposable)
    {
        try
        {
            await disposable.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is OperationInterruptedException or AlreadyClosedException or IOException or ObjectDisposedException or TimeoutException or OperationCanceledException)
        {
            // Closing something already broken.
        }
    }

    [LoggerMessage(EventId = 1101, Level = LogLevel.Information, Message = "Publishing events to RabbitMQ node {Node} ({QueueType} intake queue declared)")]
    private static partial void LogConnected(ILogger logger, string node, string queueType);

    [LoggerMessage(EventId = 1102, Level = LogLevel.Warning, Message = "Lost the publishing connection to RabbitMQ node {Node} ({Reason}); the next publish connects to the next node")]
    private static partial void LogConnectionLost(ILogger logger, string node, string reason);

    [LoggerMessage(EventId = 1103, Level = LogLevel.Warning, Message = "Cannot publish events to RabbitMQ: {Reason}")]
    private static partial void LogConnectFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 1104, Level = LogLevel.Warning, Message = "A publish on node {Node} failed ({ErrorType}: {Error}); its channel was closed and will not be reused")]
    private static partial void LogChannelReplaced(ILogger logger, string node, string errorType, string error);

    /// <summary>
    /// One connection and its confirmed channels, shared by every publish (round robin; RabbitMQ.Client tracks each
    /// publish's confirmation by sequence number). A channel is opened on first use and again after it was discarded.
    /// </summary>
    private sealed class Session(IConnection connection, string node, int channels) : IAsyncDisposable
    {
        private readonly IChannel?[] _slots = new IChannel?[channels];
        private readonly SemaphoreSlim[] _opening = Enumerable.Range(0, channels).Select(_ => new SemaphoreSlim(1, 1)).ToArray();
        private int _next;

        public string Node { get; } = node;

        public bool IsOpen => connection.IsOpen;

        public ValueTask<IChannel> RentAsync(CancellationToken cancellationToken)
        {
            var slot = _slots.Length == 1 ? 0 : (int)((uint)Interlocked.Increment(ref _next) % (uint)_slots.Length);
            var open = Volatile.Read(ref _slots[slot]);
            return open is { IsOpen: true } ? ValueTask.FromResult(open) : OpenAsync(slot, cancellationToken);
        }

        /// <summary>
        /// Closes <paramref name="channel"/> after a failed publish and frees its slot. Publishes still waiting on it fail
        /// too (answered 503, so Stripe retries them; a copy that did reach the queue is dropped by its id downstream).
        /// </summary>
        /// <returns>False when another failed publish discarded it already.</returns>
        public bool Discard(IChannel channel)
        {
            for (var i = 0; i < _slots.Length; i++)
            {
                if (Interlocked.CompareExchange(ref _slots[i], null, channel) == channel)
                {
                    _ = DisposeQuietlyAsync(channel);
                    return true;
                }
            }

            return false;
        }

        public async ValueTask DisposeAsync()
        {
            for (var i = 0; i < _slots.Length; i++)
            {
                if (Interlocked.Exchange(ref _slots[i], null) is { } channel)
                {
                    await DisposeQuietlyAsync(channel).ConfigureAwait(false);
                }
            }

            await DisposeQuietlyAsync(connection).ConfigureAwait(false);
        }

        private async ValueTask<IChannel> OpenAsync(int slot, CancellationToken cancellationToken)
        {
            await _opening[slot].WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (_slots[slot] is { IsOpen: true } open)
                {
                    return open;
                }

                var created = await connection.CreateChannelAsync(ConfirmedChannel, cancellationToken).ConfigureAwait(false);
                Volatile.Write(ref _slots[slot], created);
                return created;
            }
            finally
            {
                _opening[slot].Release();
            }
        }
    }

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
                JsonSerializer.Serialize(writer, message, IntakeJsonContext.Default.StripeEventReceived);
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

/// <summary>The event was not confirmed into the queue; the message says why and what happens next.</summary>
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

/// <summary>
/// System.Text.Json metadata for the intake message, generated at build time: camelCase names, as MassTransit writes them
/// (it reads either case).
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(StripeEventReceived))]
internal sealed partial class IntakeJsonContext : JsonSerializerContext;

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
/// One message for <see cref="RabbitMqPublisher.PublishAsync(OutgoingMessage, TimeSpan, CancellationToken)"/>: where it
/// goes, its body and what the AMQP properties say. It is always published persistent and mandatory.
/// </summary>
/// <param name="Exchange">The exchange (a fanout exchange of SyncWorker's topology: <c>syncworker.events</c>,
/// <c>syncworker.target.{name}</c>, <c>syncworker.wait.{N}s</c>).</param>
/// <param name="Body">The body, published as it is. The publisher may go on using it after the caller stopped waiting
/// (until the broker confirms or the timeout ends): pass memory nobody changes or reuses, such as a fresh array.</param>
/// <param name="MessageId">The AMQP <c>message-id</c> (MassTransit's message id; SyncWorker derives it from the event or
/// delivery id, so repeats carry one id).</param>
/// <param name="MessageType">MassTransit's message type URN, sent in <c>MT-MessageType</c> so a raw JSON endpoint knows
/// what the body is, for example <see cref="RawJsonMessages.FulfillmentDeliveryType"/>.</param>
public sealed record OutgoingMessage(string Exchange, ReadOnlyMemory<byte> Body, string MessageId, string MessageType)
{
    /// <summary>
    /// The routing key; fanout exchanges ignore it for routing, but the message keeps it, and a shared delay queue
    /// dead-letters the message to the queue it names (the target queue). Empty by default.
    /// </summary>
    public string RoutingKey { get; init; } = "";

    /// <summary>The AMQP content type; MassTransit's raw JSON by default.</summary>
    public string ContentType { get; init; } = RawJsonMessages.ContentType;

    /// <summary>Further transport headers (strings, numbers, booleans), such as <c>SyncWorker-Redelivery-Count</c>.</summary>
    public IReadOnlyDictionary<string, object?>? Headers { get; init; }

    /// <summary>The AMQP timestamp (whole seconds), when there is one.</summary>
    public DateTimeOffset? Timestamp { get; init; }

    /// <summary>How errors and logs name the message, for example <c>event evt_…</c> or <c>delivery msg_…</c>.</summary>
    public string Description { get; init; } = "";

    internal string Named => Description.Length > 0 ? Description : "message " + MessageId;
}

/// <summary>
/// MassTransit's raw JSON format, which SyncWorker's RabbitMQ publisher writes: the body is the message itself
/// (System.Text.Json, camelCase, as MassTransit writes it), content type <c>application/json</c>, the message type in the
/// <c>MT-MessageType</c> header and the message id in the AMQP <c>message-id</c>. Endpoints read it with
/// <c>UseRawJsonDeserializer</c> next to MassTransit's own envelope (<c>application/vnd.masstransit+json</c>).
/// </summary>
public static class RawJsonMessages
{
    /// <summary>Content type of a raw JSON message.</summary>
    public const string ContentType = "application/json";

    /// <summary>Transport header MassTransit reads the message type of a raw JSON message from.</summary>
    public const string MessageTypeHeader = "MT-MessageType";

    /// <summary>MassTransit's header for the W3C trace parent of a message.</summary>
    public const string ActivityIdHeader = "MT-Activity-Id";

    /// <summary>MassTransit's name of <see cref="StripeEventReceived"/>.</summary>
    public const string StripeEventReceivedType = "urn:message:SyncWorker.Contracts:StripeEventReceived";

    /// <summary>MassTransit's name of <see cref="FulfillmentDelivery"/>.</summary>
    public const string FulfillmentDeliveryType = "urn:message:SyncWorker.Contracts:FulfillmentDelivery";

    /// <summary>
    /// A <see cref="FulfillmentDelivery"/> as a raw JSON message for <paramref name="exchange"/>, with
    /// <paramref name="messageId"/>: the format in which versions before <see cref="DeliveryMessages"/> queued deliveries.
    /// Target endpoints still read it (deliveries queued before an upgrade); SyncWorker no longer writes it, and the tests
    /// that check it is still read write it with this.
    /// </summary>
    public static OutgoingMessage Delivery(string exchange, FulfillmentDelivery delivery, Guid messageId)
    {
        ArgumentNullException.ThrowIfNull(delivery);
        return new OutgoingMessage(
            exchange,
            JsonSerializer.SerializeToUtf8Bytes(delivery, RawJsonContext.Default.FulfillmentDelivery),
            messageId.ToString(),
            FulfillmentDeliveryType)
        {
            Timestamp = delivery.Event.ReceivedAt,
            Description = $"delivery {delivery.DeliveryId} of event {delivery.Event.EventId}",
        };
    }
}

/// <summary>
/// SyncWorker's one publisher on RabbitMQ, written on RabbitMQ.Client rather than MassTransit's send pipeline, used by the
/// receiver (<see cref="RabbitMqStripeEventPublisher"/>: <c>StripeEventReceived</c> to <c>syncworker.events</c>) and by the
/// forward stage (each <c>FulfillmentDelivery</c> to its target queue's exchange, and redeliveries to the delay exchanges),
/// each stage with its own instance and connection:
/// <list type="bullet">
/// <item>every publish is persistent, mandatory and waits for the broker's confirmation; a nack, a return (no queue bound),
/// a timeout or a lost connection is an <see cref="EventNotQueuedException"/>;</item>
/// <item>the channel a publish failed on is closed and never used again. After a cluster node is lost, a quorum queue
/// can go on refusing one channel's publishes for about a minute (RabbitMQ 3.10, seen in the failover tests with
/// MassTransit, which keeps its channel); a fresh channel is accepted at once;</item>
/// <item>a caller that stops waiting (its token is cancelled: an aborted request, a consumer stopping) does not fail the
/// publish or its channel: the publish goes on, bounded by its own timeout, and other publishes on that channel are not
/// disturbed;</item>
/// <item>the connection goes to the configured nodes in order (<c>RabbitMq:Uri</c>, then <c>RabbitMq:Hosts</c>) and, when
/// it is lost, is opened again starting with the next node; a declaration given to the constructor runs on every new
/// connection before its first publish (the receiver declares the events exchange and the intake queue there); queues a
/// publish needs besides are declared by the caller before it publishes (<see cref="BrokerAdmin"/>).</item>
/// </list>
/// Publishes share <c>RabbitMq:PublisherChannels</c> channels (default 1): in the load harness one shared channel cost the
/// broker less CPU per message than a channel per concurrent publish (confirms come back in batches).
/// <para>
/// A redelivery to a shared delay queue is one call, after <see cref="BrokerAdmin.EnsureDelayQueueAsync"/> (the queue's
/// own <c>x-message-ttl</c> is the wait; messages carry no expiration of their own, so none holds up the ones behind it),
/// with the target queue as routing key (where the queue dead-letters it back to):
/// <code>
/// await publisher.PublishAsync(
///     DeliveryMessages.Create(
///         Topology.DelayQueue(5),
///         delivery,
///         consumedMessageId,
///         new Dictionary&lt;string, object&gt; { [DeliveryHeaders.RedeliveryCount] = 1, [DeliveryHeaders.FailureHistory] = history })
///         with { RoutingKey = Topology.TargetQueue(target) },
///     RabbitMqPublisher.ForwardTimeout,
///     cancellationToken);
/// </code>
/// </para>
/// </summary>
public sealed partial class RabbitMqPublisher : IAsyncDisposable
{
    /// <summary>How long the forward stage's publishes may take to be confirmed before they count as failed.</summary>
    public static readonly TimeSpan ForwardTimeout = TimeSpan.FromSeconds(10);

    private static readonly CreateChannelOptions ConfirmedChannel = new(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true);

    private readonly RabbitMqEndpoint _endpoint;
    private readonly IReadOnlyList<BrokerNode> _nodes;
    private readonly QueueType _queueType;
    private readonly int _channels;
    private readonly string _connectionName;
    private readonly TimeSpan _connectTimeout;
    private readonly Declaration? _declaration;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly Lock _sync = new();
    private Task<Session>? _session;
    private int _nextNode;
    private string? _lastFailure;
    private bool _disposed;
    private long _channelsReplaced;

    /// <summary>
    /// The forward stage's publisher: connection <c>{RabbitMq:ConnectionName}-forwarder</c>, nothing declared on connect
    /// (the dispatcher declares each target queue with <see cref="BrokerAdmin"/>).
    /// </summary>
    public RabbitMqPublisher(MessagingTransport transport, ILogger<RabbitMqPublisher> logger)
        : this(transport, "forwarder", declaration: null, TimeSpan.FromSeconds(5), TimeProvider.System, logger)
    {
    }

    /// <summary>A publisher named <paramref name="role"/> (the connection is <c>{RabbitMq:ConnectionName}-{role}</c>).</summary>
    /// <param name="transport">The RabbitMQ endpoint, nodes, queue type and channel count.</param>
    /// <param name="role">Names the connection in the management UI.</param>
    /// <param name="declaration">Declares what every publish needs, on each new connection before its first publish; a
    /// returned publish then retires the connection, so the next publish connects again and declares again.</param>
    /// <param name="connectTimeout">The time each node gets to accept a connection.</param>
    /// <param name="timeProvider">Clock of the publish timeouts.</param>
    /// <param name="logger">Where connections, failures and replaced channels are logged.</param>
    public RabbitMqPublisher(
        MessagingTransport transport,
        string role,
        Declaration? declaration,
        TimeSpan connectTimeout,
        TimeProvider timeProvider,
        ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(transport);
        ArgumentException.ThrowIfNullOrEmpty(role);
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentNullException.ThrowIfNull(logger);
        _endpoint = transport.RabbitMq ?? throw new InvalidOperationException("RabbitMqPublisher needs RabbitMQ; the in-memory transport publishes with MassTransit.");
        _nodes = transport.Nodes.Count > 0 ? transport.Nodes : [new BrokerNode(_endpoint.Host, _endpoint.Port)];
        _queueType = transport.QueueType;
        _channels = transport.PublisherChannels;
        _connectionName = transport.ConnectionName + "-" + role;
        _connectTimeout = connectTimeout;
        _declaration = declaration;
        _timeProvider = timeProvider;
        _logger = logger;
    }

    /// <summary>What a publisher declares on each new connection: a description for errors, and the declaring itself.</summary>
    /// <param name="What">Names the entities, for example <c>exchange syncworker.events and queue syncworker.intake</c>.</param>
    /// <param name="DeclareAsync">Declares them on the channel given.</param>
    public sealed record Declaration(string What, Func<IChannel, CancellationToken, Task> DeclareAsync);

    /// <summary>The node the current connection goes to, or null while there is none.</summary>
    public string? ConnectedNode => _session is { IsCompletedSuccessfully: true } done && done.Result.IsOpen ? done.Result.Node : null;

    /// <summary>Why the last connection attempt failed (broker text included, no credentials); null after a success.</summary>
    public string? LastFailure => Volatile.Read(ref _lastFailure);

    /// <summary>How many channels were closed after a failed publish, since start (for tests and diagnostics).</summary>
    public long ChannelsReplaced => Interlocked.Read(ref _channelsReplaced);

    /// <summary>
    /// Publishes <paramref name="message"/> (persistent, mandatory) and completes when the broker confirmed it into a
    /// queue. <paramref name="timeout"/> bounds the publish (connecting, the channel, the confirmation): when it ends first,
    /// the publish failed and its channel is replaced. <paramref name="cancellationToken"/> only stops the caller's wait
    /// (an <see cref="OperationCanceledException"/>): the publish goes on within its timeout, and nothing else notices.
    /// </summary>
    /// <exception cref="EventNotQueuedException">Not confirmed: nacked, returned (no queue bound), no confirmation
    /// within <paramref name="timeout"/>, no connection, or the connection was lost. The message says which.</exception>
    public Task PublishAsync(OutgoingMessage message, TimeSpan timeout, CancellationToken cancellationToken) =>
        PublishAsync(message, timeout, bodyOwner: null, cancellationToken);

    /// <summary>As above; <paramref name="bodyOwner"/> (the body's pooled buffer) is disposed when the publish has ended.</summary>
    internal Task PublishAsync(OutgoingMessage message, TimeSpan timeout, IDisposable? bodyOwner, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (_disposed)
        {
            bodyOwner?.Dispose();
            throw new ObjectDisposedException(nameof(RabbitMqPublisher));
        }

        var publish = PublishCoreAsync(message, timeout, bodyOwner);
        if (!cancellationToken.CanBeCanceled || publish.IsCompleted)
        {
            return publish;
        }

        // The caller may stop waiting; the publish goes on, and its failure is observed here (nobody else may await it).
        _ = publish.ContinueWith(static done => _ = done.Exception, CancellationToken.None,
            TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return publish.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Connects (or reuses the connection) and declares, within <paramref name="cancellationToken"/>: the readiness check.
    /// Throws with the broker's reason when it cannot.
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

    private async Task PublishCoreAsync(OutgoingMessage message, TimeSpan timeout, IDisposable? bodyOwner)
    {
        using var owner = bodyOwner;
        using var deadline = new CancellationTokenSource(timeout, _timeProvider);
        // A producer span (only when traces are collected); its id travels in MassTransit's header, so the consumer's span
        // joins the trace of the webhook (or of the consume that sent this).
        using var activity = SyncWorkerTelemetry.Activities.StartActivity(message.Exchange + " publish", ActivityKind.Producer);
        activity?.SetTag("messaging.system", "rabbitmq");
        activity?.SetTag("messaging.destination.name", message.Exchange);
        activity?.SetTag("messaging.operation.type", "publish");
        activity?.SetTag("messaging.message.id", message.MessageId);
        Session? session = null;
        IChannel? channel = null;
        try
        {
            session = await SessionAsync(deadline.Token).ConfigureAwait(false);
            channel = await session.RentAsync(deadline.Token).ConfigureAwait(false);
            var headers = new Dictionary<string, object?>((message.Headers?.Count ?? 0) + 2, StringComparer.Ordinal)
            {
                [RawJsonMessages.MessageTypeHeader] = message.MessageType,
            };
            if (message.Headers is { } extra)
            {
                foreach (var (key, value) in extra)
                {
                    headers[key] = value;
                }
            }

            if ((activity ?? Activity.Current)?.Id is { } traceParent)
            {
                headers[RawJsonMessages.ActivityIdHeader] = traceParent;
            }

            var properties = new BasicProperties
            {
                Persistent = true,
                ContentType = message.ContentType,
                MessageId = message.MessageId,
                Headers = headers,
            };
            if (message.Timestamp is { } timestamp)
            {
                properties.Timestamp = new AmqpTimestamp(timestamp.ToUnixTimeSeconds());
            }

            await channel.BasicPublishAsync(message.Exchange, message.RoutingKey, mandatory: true, properties, message.Body, deadline.Token).ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            activity?.SetStatus(ActivityStatusCode.Error, exception.GetType().Name);
            // The deadline is this publish's own, never a caller's: whatever went wrong here is a failed publish, and its
            // channel is not trusted again (a nacking or half-closed channel would refuse every later publish too). The
            // next publish opens a new one.
            if (channel is not null && session is not null && session.Discard(channel))
            {
                Interlocked.Increment(ref _channelsReplaced);
                LogChannelReplaced(_logger, _connectionName, session.Node, exception.GetType().Name, exception.Message);
            }

            if (exception is PublishException { IsReturn: true } && _declaration is not null && session is not null)
            {
                // No queue took it: a queue or binding declared per connection is gone. Retire this connection; the next
                // publish connects again and declares them.
                Retire(session);
            }

            throw Describe(exception, message, timeout);
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
            LogConnectFailed(_logger, _connectionName, reason);
            throw new EventNotQueuedException($"RabbitMQ is unreachable: {reason}.", exception);
        }

        var node = connection.Endpoint.HostName + ":" + connection.Endpoint.Port.ToString(CultureInfo.InvariantCulture);
        var index = IndexOf(connection.Endpoint);
        if (_declaration is { } declaration)
        {
            try
            {
                using var timeout = new CancellationTokenSource(_connectTimeout * 2, _timeProvider);
                await using var channel = await connection.CreateChannelAsync(cancellationToken: timeout.Token).ConfigureAwait(false);
                await declaration.DeclareAsync(channel, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception exception)
            {
                // The next attempt starts with the next node: this one may be the one that is failing.
                Volatile.Write(ref _nextNode, index + 1);
                var reason = $"node {node} did not declare {declaration.What} ({Innermost(exception)})" +
                    (Innermost(exception).Contains("inequivalent arg", StringComparison.Ordinal)
                        ? $"; the queue exists with other arguments: RabbitMq:QueueType must match it ({_queueType.ToString().ToLowerInvariant()} now), see README 'Changing the queue type'"
                        : "");
                Volatile.Write(ref _lastFailure, reason);
                LogConnectFailed(_logger, _connectionName, reason);
                await DisposeQuietlyAsync(connection).ConfigureAwait(false);
                throw new EventNotQueuedException($"RabbitMQ cannot take messages: {reason}.", exception);
            }
        }

        Volatile.Write(ref _lastFailure, null);
        if (Volatile.Read(ref _disposed))
        {
            // Disposed while connecting: nobody will close this connection later.
            await DisposeQuietlyAsync(connection).ConfigureAwait(false);
            throw new ObjectDisposedException(nameof(RabbitMqPublisher));
        }

        connection.ConnectionShutdownAsync += (_, args) =>
        {
            // When this connection is lost, the next one starts with the node after it.
            Volatile.Write(ref _nextNode, index + 1);
            if (args.Initiator != ShutdownInitiator.Application)
            {
                LogConnectionLost(_logger, _connectionName, node, args.ReplyText);
            }

            return Task.CompletedTask;
        };
        LogConnected(_logger, _connectionName, node, _declaration?.What ?? "nothing", _queueType == QueueType.Quorum ? "quorum" : "classic");
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

    private EventNotQueuedException Describe(Exception exception, OutgoingMessage message, TimeSpan timeout) => exception switch
    {
        EventNotQueuedException known => known,
        PublishException { IsReturn: true } => new EventNotQueuedException(
            $"RabbitMQ returned {message.Named}: no queue is bound to exchange {message.Exchange}" +
            (_declaration is { } declared
                ? $" (was {declared.What} deleted?). Nothing was queued; the next publish connects again and declares them."
                : " (was its queue deleted?). Nothing was queued; declare the queue again before the next publish."),
            exception),
        PublishException => new EventNotQueuedException(
            $"RabbitMQ refused (nacked) {message.Named}; the channel was replaced and nothing was queued.", exception),
        OperationCanceledException => new EventNotQueuedException(
            $"RabbitMQ did not confirm {message.Named} within {timeout.TotalSeconds:0.#} s; the channel was replaced and the message may or may not be queued " +
            "(consumers drop a repeat by its id).", exception),
        _ => new EventNotQueuedException($"{char.ToUpperInvariant(message.Named[0])}{message.Named[1..]} was not confirmed by RabbitMQ: {Innermost(exception)}", exception),
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

    [LoggerMessage(EventId = 1101, Level = LogLevel.Information, Message = "Publisher {Connection} connected to RabbitMQ node {Node} (declared {Declared}; {QueueType} queues)")]
    private static partial void LogConnected(ILogger logger, string connection, string node, string declared, string queueType);

    [LoggerMessage(EventId = 1102, Level = LogLevel.Warning, Message = "Publisher {Connection} lost its connection to RabbitMQ node {Node} ({Reason}); the next publish connects to the next node")]
    private static partial void LogConnectionLost(ILogger logger, string connection, string node, string reason);

    [LoggerMessage(EventId = 1103, Level = LogLevel.Warning, Message = "Publisher {Connection} cannot publish to RabbitMQ: {Reason}")]
    private static partial void LogConnectFailed(ILogger logger, string connection, string reason);

    [LoggerMessage(EventId = 1104, Level = LogLevel.Warning, Message = "A publish of {Connection} on node {Node} failed ({ErrorType}: {Error}); its channel was closed and will not be reused")]
    private static partial void LogChannelReplaced(ILogger logger, string connection, string node, string errorType, string error);

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

}

/// <summary>
/// System.Text.Json metadata for the raw JSON messages, generated at build time: camelCase names, as MassTransit writes
/// them (it reads either case).
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(StripeEventReceived))]
[JsonSerializable(typeof(FulfillmentDelivery))]
[JsonSerializable(typeof(DeliveryFields))]
internal sealed partial class RawJsonContext : JsonSerializerContext;

using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace SyncWorker.Messaging;

/// <summary>
/// A small RabbitMQ.Client connection for what MassTransit has no API for: declaring queues with arguments (target queues
/// and the redelivery delay queues, of the configured <see cref="QueueType"/>), sampling the depth of queues known to
/// exist, and checking control queues (pause markers) without a failing passive declare. Opened on first use to any of the configured nodes, recovered automatically, shared by the process. Not
/// available on the in-memory transport.
/// </summary>
public sealed class BrokerAdmin : IAsyncDisposable
{
    private readonly RabbitMqEndpoint _endpoint;
    private readonly IReadOnlyList<BrokerNode> _nodes;
    private readonly string _connectionName;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Task> _declared = new(StringComparer.Ordinal);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> _found = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _sampleGate = new(1, 1);
    private readonly SemaphoreSlim _probeGate = new(1, 1);
    private IConnection? _connection;
    private int _disposed;
    private IChannel? _sampleChannel;
    private IChannel? _probeChannel;

    private const ushort NotFound = 404;

    /// <summary>How long a marker probe waits for the broker's confirm or return.</summary>
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Uses the configured RabbitMQ endpoint, nodes and queue type.</summary>
    public BrokerAdmin(MessagingTransport transport)
    {
        ArgumentNullException.ThrowIfNull(transport);
        _endpoint = transport.RabbitMq ?? throw new InvalidOperationException("BrokerAdmin needs RabbitMQ; the in-memory transport has no broker.");
        _nodes = transport.Nodes;
        QueueType = transport.QueueType;
        _connectionName = transport.ConnectionName + "-admin";
        RequestedChannelMax = transport.ChannelMax;
    }

    /// <summary>The channels asked for per connection (<c>RabbitMq:ChannelMax</c>), by this connection as by the bus's.</summary>
    public int RequestedChannelMax { get; }

    /// <summary>
    /// The channels the broker grants a connection that asks for <see cref="RequestedChannelMax"/>: the lower of that and
    /// the broker's <c>channel_max</c>. The bus's connection asks for the same, so this is its limit too. Connects if needed.
    /// </summary>
    public async Task<int> GrantedChannelMaxAsync(CancellationToken cancellationToken)
    {
        var granted = (await ConnectionAsync(cancellationToken)).ChannelMax;
        // 0 would mean "no limit" in AMQP; RabbitMQ always names one.
        return granted == 0 ? ushort.MaxValue : granted;
    }

    /// <summary>
    /// The <see cref="ChannelLimit"/> of a connection: requested and granted; without the granted value while the broker
    /// cannot be asked.
    /// </summary>
    public async Task<ChannelLimit> ChannelLimitAsync(CancellationToken cancellationToken)
    {
        try
        {
            return new ChannelLimit(RequestedChannelMax, await GrantedChannelMaxAsync(cancellationToken));
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return new ChannelLimit(RequestedChannelMax, null);
        }
    }

    /// <summary>The type of the queues this declares (<c>RabbitMq:QueueType</c>).</summary>
    public QueueType QueueType { get; }

    /// <summary>
    /// Declares, once per process (again after <see cref="Forget"/> or a failure), a durable shared delay queue and the
    /// fanout exchange of the same name bound to it: every message published there expires after the queue's fixed
    /// <c>x-message-ttl</c> of <paramref name="wait"/> (whole milliseconds) and is then dead-lettered through the default
    /// exchange with its own routing key, so it goes back to the target queue it was published with as routing key
    /// (<see cref="QueueArguments.DelayQueue"/>). The name must identify the wait (<c>Topology.DelayQueue</c>): a queue is
    /// declared with the wait of its first declaration.
    /// </summary>
    public Task EnsureDelayQueueAsync(string name, TimeSpan wait, CancellationToken cancellationToken) =>
        IsDeclared(name) ? Task.CompletedTask : EnsureAsync(name, wait, cancellationToken);

    /// <summary>
    /// Declares, once per process (again after <see cref="Forget"/> or a failure), a durable queue and the fanout exchange
    /// of the same name bound to it, exactly as MassTransit declares a receive endpoint's queue: sends to the exchange then
    /// reach the queue even before any consumer of it has started.
    /// </summary>
    public Task EnsureEndpointQueueAsync(string name, CancellationToken cancellationToken) =>
        IsDeclared(name) ? Task.CompletedTask : EnsureAsync(name, delay: null, cancellationToken);

    /// <summary>Drops what the <c>Ensure…</c> methods remember of a queue, so the next call declares it again.</summary>
    public void Forget(string name) => _declared.TryRemove(name, out _);

    /// <summary>The common case on the dispatch path: declared already, nothing to allocate or await.</summary>
    private bool IsDeclared(string name) => _declared.TryGetValue(name, out var declared) && declared.IsCompletedSuccessfully;

    /// <summary>
    /// Declares <paramref name="name"/> once (a delay queue with the wait <paramref name="delay"/>, or an endpoint queue
    /// when that is null) and shares the declaration between concurrent callers, so no caller's cancellation ends
    /// it (the connect timeout bounds it). A failed declaration is not remembered: the next call tries again.
    /// </summary>
    private Task EnsureAsync(string name, TimeSpan? delay, CancellationToken cancellationToken)
    {
        var declaring = _declared.GetOrAdd(
            name,
            static (queue, state) => state.Delay is { } wait
                ? state.Admin.DeclareDelayQueueAsync(queue, wait, CancellationToken.None)
                : state.Admin.DeclareEndpointQueueAsync(queue, CancellationToken.None),
            (Admin: this, Delay: delay));
        return AwaitOrForgetAsync(name, declaring).WaitAsync(cancellationToken);
    }

    private async Task AwaitOrForgetAsync(string name, Task declaring)
    {
        try
        {
            await declaring;
        }
        catch
        {
            _declared.TryRemove(KeyValuePair.Create(name, declaring));
            throw;
        }
    }

    private async Task DeclareDelayQueueAsync(string name, TimeSpan wait, CancellationToken cancellationToken)
    {
        await using var channel = await ChannelAsync(cancellationToken);
        await channel.ExchangeDeclareAsync(name, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: cancellationToken);
        await channel.QueueDeclareAsync(name, durable: true, exclusive: false, autoDelete: false,
            QueueArguments.DelayQueue(QueueType, wait), cancellationToken: cancellationToken);
        await channel.QueueBindAsync(name, name, "", cancellationToken: cancellationToken);
    }

    private async Task DeclareEndpointQueueAsync(string name, CancellationToken cancellationToken)
    {
        await using var channel = await ChannelAsync(cancellationToken);
        await channel.ExchangeDeclareAsync(name, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: cancellationToken);
        await channel.QueueDeclareAsync(name, durable: true, exclusive: false, autoDelete: false,
            QueueArguments.For(QueueType), cancellationToken: cancellationToken);
        await channel.QueueBindAsync(name, name, "", cancellationToken: cancellationToken);
    }

    /// <summary>
    /// True when this process knows the queue exists: it declared it (the <c>Ensure…</c> methods) or a passive declare
    /// found it (<see cref="TryFindAsync"/>). Only such queues are sampled, so sampling causes no channel errors.
    /// </summary>
    public bool IsKnown(string name) => IsDeclared(name) || _found.ContainsKey(name);

    /// <summary>Records that a queue exists because another part of the process declared it (MassTransit's endpoints).</summary>
    public void MarkKnown(string name) => _found[name] = true;

    /// <summary>
    /// Ready messages of a queue known to exist (<see cref="IsKnown"/>), read with a passive declare on one long-lived
    /// channel; null when the queue is not known, and then the broker is not asked. When the broker no longer has it
    /// (deleted), the queue is forgotten and <see cref="QueueNotFoundException"/> is thrown; any other failure throws too.
    /// </summary>
    public async Task<uint?> ReadyCountAsync(string name, CancellationToken cancellationToken)
    {
        if (!IsKnown(name))
        {
            return null;
        }

        await _sampleGate.WaitAsync(cancellationToken);
        try
        {
            if (_sampleChannel is not { IsOpen: true })
            {
                _sampleChannel?.Dispose();
                _sampleChannel = null;
                _sampleChannel = await ChannelAsync(cancellationToken);
            }

            try
            {
                return (await _sampleChannel.QueueDeclarePassiveAsync(name, cancellationToken)).MessageCount;
            }
            catch (OperationInterruptedException exception) when (exception.ShutdownReason?.ReplyCode == NotFound)
            {
                Forget(name);
                _found.TryRemove(name, out _);
                throw new QueueNotFoundException(name, exception);
            }
        }
        finally
        {
            _sampleGate.Release();
        }
    }

    /// <summary>
    /// Declares a marker queue (a pause or disable marker: durable, <c>x-max-length</c> 0 so it never keeps a message, of
    /// the configured queue type), as <c>targets pause</c> does; nothing happens when it exists already.
    /// </summary>
    public async Task DeclareMarkerAsync(string name, CancellationToken cancellationToken)
    {
        if (await MarkerExistsAsync(name, cancellationToken))
        {
            return;
        }

        await using var channel = await ChannelAsync(cancellationToken);
        await channel.QueueDeclareAsync(name, durable: true, exclusive: false, autoDelete: false,
            QueueArguments.For(QueueType, [KeyValuePair.Create<string, object?>("x-max-length", 0)]), cancellationToken: cancellationToken);
    }

    /// <summary>Deletes a marker queue; true when it existed.</summary>
    public async Task<bool> DeleteMarkerAsync(string name, CancellationToken cancellationToken)
    {
        if (!await MarkerExistsAsync(name, cancellationToken))
        {
            return false;
        }

        await using var channel = await ChannelAsync(cancellationToken);
        await channel.QueueDeleteAsync(name, ifUnused: false, ifEmpty: false, cancellationToken: cancellationToken);
        return true;
    }

    /// <summary>
    /// Deletes a queue if it holds no message (RabbitMQ's if-empty delete); true when it is gone (or was not there),
    /// false when it still holds messages.
    /// </summary>
    public async Task<bool> DeleteQueueIfEmptyAsync(string name, CancellationToken cancellationToken)
    {
        await using var channel = await ChannelAsync(cancellationToken);
        try
        {
            await channel.QueueDeleteAsync(name, ifUnused: false, ifEmpty: true, cancellationToken: cancellationToken);
            return true;
        }
        catch (OperationInterruptedException exception) when (exception.ShutdownReason?.ReplyCode == 406)
        {
            return false;
        }
        finally
        {
            Forget(name);
            _found.TryRemove(name, out _);
        }
    }

    /// <summary>
    /// Looks for a queue SyncWorker does not declare (<c>syncworker.poison</c>, from the deploy definitions) with a passive
    /// declare on a channel of its own: when the queue is missing the broker closes that channel (a channel error in its
    /// log), so call this rarely. A queue found is <see cref="IsKnown">known</see> from then on.
    /// </summary>
    public async Task<bool> TryFindAsync(string name, CancellationToken cancellationToken)
    {
        if (IsKnown(name))
        {
            return true;
        }

        await using var channel = await ChannelAsync(cancellationToken);
        try
        {
            await channel.QueueDeclarePassiveAsync(name, cancellationToken);
            _found[name] = true;
            return true;
        }
        catch (OperationInterruptedException exception) when (exception.ShutdownReason?.ReplyCode == NotFound)
        {
            return false;
        }
    }

    /// <summary>
    /// True when a marker queue of that name exists (never use it on a queue that keeps messages), learnt without a passive declare (which, for a missing queue, is a channel
    /// error in the broker's log): an empty message is published, mandatory and confirmed, through the default exchange
    /// with the queue's name as routing key, on one long-lived channel. The broker returns it when no such queue exists;
    /// otherwise the queue takes it. Meant for pause markers (<c>x-max-length</c> 0, so they drop it at once and stay
    /// empty), created by another process (<c>targets pause</c>), older versions' markers included.
    /// </summary>
    public async Task<bool> MarkerExistsAsync(string name, CancellationToken cancellationToken)
    {
        await _probeGate.WaitAsync(cancellationToken);
        try
        {
            if (_probeChannel is not { IsOpen: true })
            {
                _probeChannel?.Dispose();
                _probeChannel = null;
                var connection = await ConnectionAsync(cancellationToken);
                _probeChannel = await connection.CreateChannelAsync(
                    new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true), cancellationToken);
            }

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(ProbeTimeout);
            try
            {
                await _probeChannel.BasicPublishAsync(
                    string.Empty, name, mandatory: true, new BasicProperties { DeliveryMode = DeliveryModes.Transient }, ReadOnlyMemory<byte>.Empty, timeout.Token);
                return true;
            }
            catch (PublishException exception) when (exception.IsReturn)
            {
                return false;
            }
            catch (PublishException)
            {
                return true; // Nacked: a queue took it and refused it (reject-publish overflow); it exists.
            }
            catch
            {
                // A timeout or a broken channel: start afresh next time.
                _probeChannel?.Dispose();
                _probeChannel = null;
                throw;
            }
        }
        finally
        {
            _probeGate.Release();
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        // Idempotent: the host may dispose it more than once; closing a connection already lost or disposed is no error.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _sampleChannel?.Dispose();
        _probeChannel?.Dispose();
        if (_connection is { } connection)
        {
            try
            {
                await connection.CloseAsync();
            }
            catch (Exception exception) when (exception is ObjectDisposedException or AlreadyClosedException or OperationInterruptedException or IOException or TimeoutException or OperationCanceledException)
            {
                // Already closed or broken: nothing left to close.
            }

            connection.Dispose();
        }

        _gate.Dispose();
        _sampleGate.Dispose();
        _probeGate.Dispose();
    }

    private async Task<IChannel> ChannelAsync(CancellationToken cancellationToken) =>
        await (await ConnectionAsync(cancellationToken)).CreateChannelAsync(cancellationToken: cancellationToken);

    private async Task<IConnection> ConnectionAsync(CancellationToken cancellationToken)
    {
        var connection = _connection;
        if (connection is not { IsOpen: true })
        {
            await _gate.WaitAsync(cancellationToken);
            try
            {
                if (_connection is not { IsOpen: true })
                {
                    if (_connection is not null)
                    {
                        // Forget it before reconnecting: if no node answers, nothing may use (or close) it again.
                        var lost = _connection;
                        _connection = null;
                        lost.Dispose();
                    }

                    _connection = await RabbitMqConnections.OpenAsync(
                        _endpoint, _nodes, _connectionName, recover: true, TimeSpan.FromSeconds(5), cancellationToken, channelMax: RequestedChannelMax);
                }

                connection = _connection;
            }
            finally
            {
                _gate.Release();
            }
        }

        return connection;
    }
}

/// <summary>A queue SyncWorker knew of is gone from the broker (deleted); it is no longer sampled.</summary>
public sealed class QueueNotFoundException(string queue, Exception inner) : Exception($"Queue {queue} does not exist (any more).", inner)
{
    /// <summary>The queue.</summary>
    public string Queue { get; } = queue;
}

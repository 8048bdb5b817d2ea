using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace SyncWorker.Messaging;

/// <summary>
/// A small RabbitMQ.Client connection for what MassTransit has no API for: declaring queues with arguments (target queues
/// and the redelivery delay queues, of the configured <see cref="QueueType"/>) and checking control queues (pause
/// markers). Opened on first use to any of the configured nodes, recovered automatically, shared by the process. Not
/// available on the in-memory transport.
/// </summary>
public sealed class BrokerAdmin : IAsyncDisposable
{
    private readonly RabbitMqEndpoint _endpoint;
    private readonly IReadOnlyList<BrokerNode> _nodes;
    private readonly string _connectionName;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Task> _declared = new(StringComparer.Ordinal);
    private IConnection? _connection;

    /// <summary>Uses the configured RabbitMQ endpoint, nodes and queue type.</summary>
    public BrokerAdmin(MessagingTransport transport)
    {
        ArgumentNullException.ThrowIfNull(transport);
        _endpoint = transport.RabbitMq ?? throw new InvalidOperationException("BrokerAdmin needs RabbitMQ; the in-memory transport has no broker.");
        _nodes = transport.Nodes;
        QueueType = transport.QueueType;
        _connectionName = transport.ConnectionName + "-admin";
    }

    /// <summary>The type of the queues this declares (<c>RabbitMq:QueueType</c>).</summary>
    public QueueType QueueType { get; }

    /// <summary>
    /// Declares, once per process (again after <see cref="Forget"/> or a failure), a durable delay queue and its fanout
    /// exchange: every message published there expires after the queue's fixed <c>x-message-ttl</c> of
    /// <paramref name="wait"/> (whole milliseconds) and is then dead-lettered through the default exchange to
    /// <paramref name="returnQueue"/>. The name must identify the wait (<c>Topology.DelayQueue</c>): a queue is declared
    /// with the wait of its first declaration.
    /// </summary>
    public Task EnsureDelayQueueAsync(string name, string returnQueue, TimeSpan wait, CancellationToken cancellationToken) =>
        IsDeclared(name) ? Task.CompletedTask : EnsureAsync(name, (returnQueue, wait), cancellationToken);

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
    /// Declares <paramref name="name"/> once (a delay queue with the return queue and wait of <paramref name="delay"/>, or
    /// an endpoint queue when that is null) and shares the declaration between concurrent callers, so no caller's cancellation ends
    /// it (the connect timeout bounds it). A failed declaration is not remembered: the next call tries again.
    /// </summary>
    private Task EnsureAsync(string name, (string ReturnQueue, TimeSpan Wait)? delay, CancellationToken cancellationToken)
    {
        var declaring = _declared.GetOrAdd(
            name,
            static (queue, state) => state.Delay is { } back
                ? state.Admin.DeclareDelayQueueAsync(queue, back.ReturnQueue, back.Wait, CancellationToken.None)
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

    private async Task DeclareDelayQueueAsync(string name, string returnQueue, TimeSpan wait, CancellationToken cancellationToken)
    {
        await using var channel = await ChannelAsync(cancellationToken);
        await channel.ExchangeDeclareAsync(name, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: cancellationToken);
        await channel.QueueDeclareAsync(name, durable: true, exclusive: false, autoDelete: false,
            QueueArguments.DeadLetteringTo(QueueType, returnQueue, wait), cancellationToken: cancellationToken);
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

    /// <summary>Ready messages of a queue, or null when it does not exist.</summary>
    public async Task<uint?> ReadyCountAsync(string name, CancellationToken cancellationToken)
    {
        await using var channel = await ChannelAsync(cancellationToken);
        try
        {
            return (await channel.QueueDeclarePassiveAsync(name, cancellationToken)).MessageCount;
        }
        catch (OperationInterruptedException exception) when (exception.ShutdownReason?.ReplyCode == 404)
        {
            return null;
        }
    }

    /// <summary>True when a queue of that name exists.</summary>
    public async Task<bool> QueueExistsAsync(string name, CancellationToken cancellationToken)
    {
        await using var channel = await ChannelAsync(cancellationToken);
        try
        {
            await channel.QueueDeclarePassiveAsync(name, cancellationToken);
            return true;
        }
        catch (OperationInterruptedException exception) when (exception.ShutdownReason?.ReplyCode == 404)
        {
            return false;
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_connection is not null)
        {
            await _connection.CloseAsync();
            _connection.Dispose();
        }

        _gate.Dispose();
    }

    private async Task<IChannel> ChannelAsync(CancellationToken cancellationToken)
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
                        _connection.Dispose();
                    }

                    _connection = await RabbitMqConnections.OpenAsync(
                        _endpoint, _nodes, _connectionName, recover: true, TimeSpan.FromSeconds(5), cancellationToken);
                }

                connection = _connection;
            }
            finally
            {
                _gate.Release();
            }
        }

        return await connection.CreateChannelAsync(cancellationToken: cancellationToken);
    }
}

using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace SyncWorker.Messaging;

/// <summary>
/// A small RabbitMQ.Client connection for what MassTransit has no API for: declaring queues with arguments (the
/// redelivery delay queues) and checking control queues (pause markers). Opened on first use, recovered automatically,
/// shared by the process. Not available on the in-memory transport.
/// </summary>
public sealed class BrokerAdmin : IAsyncDisposable
{
    private readonly RabbitMqEndpoint _endpoint;
    private readonly string _connectionName;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private IConnection? _connection;

    /// <summary>Uses the configured RabbitMQ endpoint.</summary>
    public BrokerAdmin(MessagingTransport transport)
    {
        ArgumentNullException.ThrowIfNull(transport);
        _endpoint = transport.RabbitMq ?? throw new InvalidOperationException("BrokerAdmin needs RabbitMQ; the in-memory transport has no broker.");
        _connectionName = transport.ConnectionName + "-admin";
    }

    /// <summary>
    /// Declares (idempotently) a durable delay queue and its fanout exchange: messages published there with a per-message
    /// expiration are dead-lettered, when they expire, through the default exchange to <paramref name="returnQueue"/>.
    /// </summary>
    public async Task DeclareDelayQueueAsync(string name, string returnQueue, CancellationToken cancellationToken)
    {
        await using var channel = await ChannelAsync(cancellationToken);
        await channel.ExchangeDeclareAsync(name, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: cancellationToken);
        await channel.QueueDeclareAsync(name, durable: true, exclusive: false, autoDelete: false,
            new Dictionary<string, object?>
            {
                ["x-dead-letter-exchange"] = "",
                ["x-dead-letter-routing-key"] = returnQueue,
            }, cancellationToken: cancellationToken);
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

                    var factory = new ConnectionFactory
                    {
                        HostName = _endpoint.Host,
                        Port = _endpoint.Port,
                        VirtualHost = _endpoint.VirtualHost,
                        UserName = _endpoint.UserName,
                        Password = _endpoint.Password,
                        ClientProvidedName = _connectionName,
                        AutomaticRecoveryEnabled = true,
                        RequestedConnectionTimeout = TimeSpan.FromSeconds(5),
                    };
                    if (_endpoint.UseTls)
                    {
                        factory.Ssl = new SslOption(_endpoint.Host) { Enabled = true };
                    }

                    _connection = await factory.CreateConnectionAsync(cancellationToken);
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

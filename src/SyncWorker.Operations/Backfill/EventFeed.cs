using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using SyncWorker.Contracts;
using SyncWorker.Messaging;
using SyncWorker.Operations.Cli;

namespace SyncWorker.Operations.Backfill;

/// <summary>
/// The normal path into the queue: the worker's own messaging (<see cref="MessagingServiceCollectionExtensions.AddSyncWorkerMessaging"/>,
/// no consumers) and its confirmed publisher (<see cref="IStripeEventPublisher"/>: mandatory, persistent, confirmed, message
/// id derived from the event id) on a small host built from the same configuration. The transport is forced to RabbitMQ:
/// feeding an in-memory bus would lose the events.
/// </summary>
internal sealed class EventFeed : IAsyncDisposable
{
    /// <summary>How long one publish may wait for the broker's confirmation.</summary>
    public static readonly TimeSpan PublishTimeout = TimeSpan.FromSeconds(30);

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(30);

    private readonly IHost _host;
    private readonly IBusControl _bus;
    private readonly IStripeEventPublisher _publisher;

    private EventFeed(IHost host)
    {
        _host = host;
        _bus = host.Services.GetRequiredService<IBusControl>();
        _publisher = host.Services.GetRequiredService<IStripeEventPublisher>();
    }

    /// <summary>Builds the host and starts the bus; returns once it is started.</summary>
    public static async Task<EventFeed> StartAsync(IConfiguration configuration, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { ApplicationName = "SyncWorker" });
        builder.Configuration.AddConfiguration(configuration);
        var connectionName = configuration[$"{RabbitMqOptions.Section}:ConnectionName"] is { Length: > 0 } name ? name : "syncworker";
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            [$"{MessagingOptions.Section}:Transport"] = nameof(TransportKind.RabbitMq),
            [$"{RabbitMqOptions.Section}:ConnectionName"] = connectionName + "-backfill",
        });
        try
        {
            builder.AddSyncWorkerMessaging();
        }
        catch (MessagingConfigurationException exception)
        {
            throw CliException.Configuration(exception.Message);
        }

        var feed = new EventFeed(builder.Build());
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(StartTimeout);
            var handle = await feed._bus.StartAsync(timeout.Token);
            await handle.Ready.WaitAsync(timeout.Token);
            return feed;
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            await feed.DisposeAsync();
            throw CliException.Failed(
                $"The bus did not start within {StartTimeout.TotalSeconds:0} s ({exception.GetType().Name}: {exception.Message}). " +
                $"Nothing was fed; check {CliSession.RabbitMqUriKey} and the broker, then run backfill again.");
        }
    }

    /// <summary>Publishes like the receiver; returns once the broker confirmed it into a queue.</summary>
    public async Task PublishAsync(StripeEventReceived message, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(PublishTimeout);
        await _publisher.PublishAsync(message, timeout.Token);
    }

    /// <summary>Stops the bus (after every publish was confirmed, nothing is left in flight) and disposes the host.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            using var timeout = new CancellationTokenSource(StopTimeout);
            await _bus.StopAsync(timeout.Token);
        }
        catch (Exception exception) when (exception is OperationCanceledException or MassTransitException)
        {
            // Everything fed was confirmed before; a bus that does not stop cleanly loses nothing.
        }

        if (_host is IAsyncDisposable asyncDisposable)
        {
            await asyncDisposable.DisposeAsync();
        }
        else
        {
            _host.Dispose();
        }
    }
}

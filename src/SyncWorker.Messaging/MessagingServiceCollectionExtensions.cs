using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using SyncWorker.Contracts;

namespace SyncWorker.Messaging;

/// <summary>Registers MassTransit on RabbitMQ (or in-memory) with SyncWorker's topology.</summary>
public static class MessagingServiceCollectionExtensions
{
    /// <summary>
    /// Adds the bus and the confirmed <see cref="IStripeEventPublisher"/>. Reads and checks <c>Messaging:*</c> and
    /// <c>RabbitMq:*</c> now, so a bad value stops the process before it listens. Receive endpoints are configured only
    /// by <paramref name="configureEndpoints"/> (no convention-based endpoints), so an instance consumes exactly what its
    /// role asks for.
    /// </summary>
    /// <param name="builder">The host builder.</param>
    /// <param name="configureConsumers">Registers consumers (the forward stage), or null for a receive-only instance.</param>
    /// <param name="configureEndpoints">Configures their receive endpoints on either transport.</param>
    /// <exception cref="MessagingConfigurationException">The transport settings are invalid.</exception>
    public static IHostApplicationBuilder AddSyncWorkerMessaging(
        this IHostApplicationBuilder builder,
        Action<IBusRegistrationConfigurator>? configureConsumers = null,
        Action<IBusRegistrationContext, IBusFactoryConfigurator>? configureEndpoints = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var transport = MessagingTransport.Resolve(builder.Configuration, builder.Environment);
        builder.Services.AddSingleton(transport);
        if (!transport.IsInMemory)
        {
            builder.Services.AddSingleton<BrokerAdmin>();
            // On RabbitMQ the receiver publishes with RabbitMQ.Client (confirmed, mandatory, a failed channel replaced);
            // MassTransit consumes.
            builder.Services.AddSingleton<RabbitMqStripeEventPublisher>();
            builder.Services.TryAddSingleton<IStripeEventPublisher>(services => services.GetRequiredService<RabbitMqStripeEventPublisher>());
            // The forward stage's sends to target queues and delay queues: the same publisher implementation, on its own connection.
            builder.Services.AddSingleton<RabbitMqPublisher>();
        }

        builder.Services.AddMassTransit(bus =>
        {
            // No usage reports leave the process; it also avoids a start-up race seen in MassTransit 8.5's usage tracker.
            bus.DisableUsageTelemetry();
            configureConsumers?.Invoke(bus);
            if (!transport.IsInMemory)
            {
                bus.UsingRabbitMq((context, cfg) =>
                {
                    // Every node of RabbitMq:Uri and RabbitMq:Hosts in order, each (re)connection to the next, so a lost node
                    // fails over; with amqps:// each node's certificate is checked against that node's own name.
                    cfg.Host(MassTransitBrokerHost.Settings(transport));

                    ConfigureTopology(cfg, transport.QueueType);
                    configureEndpoints?.Invoke(context, cfg);
                });
            }
            else
            {
                bus.UsingInMemory((context, cfg) =>
                {
                    cfg.Message<StripeEventReceived>(m => m.SetEntityName(Topology.EventsExchange));
                    configureEndpoints?.Invoke(context, cfg);
                });
            }
        });

        // The host does not wait for the broker: a receiver without one answers 503 (Stripe retries) and
        // reconnects on its own, rather than failing to start during a broker outage.
        builder.Services.AddOptions<MassTransitHostOptions>().Configure(options =>
        {
            options.WaitUntilStarted = false;
            options.StopTimeout = TimeSpan.FromSeconds(30);
        });

        builder.Services.TryAddSingleton<IStripeEventPublisher, MassTransitStripeEventPublisher>();
        return builder;
    }

    /// <summary>
    /// For instances that receive: <c>/health/ready</c> also requires that events can be published, that is a RabbitMQ
    /// node accepted the publisher's connection and the events exchange and intake queue are declared (the check
    /// connects when nothing is connected). Nothing on the in-memory transport, where the bus's own check covers it.
    /// </summary>
    public static IHostApplicationBuilder AddStripeEventPublisherReadiness(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddHealthChecks().AddCheck<StripeEventPublisherHealthCheck>("rabbitmq-publisher", tags: ["ready"]);
        return builder;
    }

    /// <summary>
    /// The exchange for <see cref="StripeEventReceived"/> and the durable intake queue bound to it, declared when the bus
    /// starts, so they exist as soon as any instance (a forwarder too) is up. Receivers publish with
    /// <see cref="RabbitMqStripeEventPublisher"/>, which declares the same exchange, queue and binding on each of its
    /// connections before its first publish.
    /// </summary>
    private static void ConfigureTopology(IRabbitMqBusFactoryConfigurator cfg, QueueType queueType)
    {
        cfg.DeployPublishTopology = true;
        cfg.Message<StripeEventReceived>(m => m.SetEntityName(Topology.EventsExchange));
        cfg.Publish<StripeEventReceived>(publish =>
        {
            publish.Durable = true;
            publish.AutoDelete = false;
            publish.BindQueue(Topology.EventsExchange, Topology.IntakeQueue, queue =>
            {
                queue.Durable = true;
                queue.AutoDelete = false;
                ApplyQueueType(queue, queueType);
            });
        });
    }

    /// <summary>
    /// Gives a queue MassTransit declares the configured type. Its <c>_error</c> and <c>_skipped</c> queues copy the
    /// receive endpoint's queue arguments, so they get the same type.
    /// </summary>
    public static void ApplyQueueType(IRabbitMqQueueConfigurator queue, QueueType queueType)
    {
        ArgumentNullException.ThrowIfNull(queue);
        if (queueType == QueueType.Quorum)
        {
            queue.SetQuorumQueue();
        }
    }

    /// <summary>
    /// Applies <c>RabbitMq:QueueType</c> to a receive endpoint (and so to its error queues); nothing on the in-memory
    /// transport.
    /// </summary>
    public static void ApplyQueueType(IReceiveEndpointConfigurator endpoint, MessagingTransport transport)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(transport);
        if (endpoint is IRabbitMqReceiveEndpointConfigurator rabbit)
        {
            ApplyQueueType(rabbit, transport.QueueType);
        }
    }
}

/// <summary>The transport chosen at start, with a description safe for logs.</summary>
public sealed record MessagingTransport(RabbitMqEndpoint? RabbitMq, string ConnectionName)
{
    /// <summary>True when events are not durable (in-memory transport).</summary>
    public bool IsInMemory => RabbitMq is null;

    /// <summary>The nodes to connect to: the host of <c>RabbitMq:Uri</c>, then <c>RabbitMq:Hosts</c>. Empty in memory.</summary>
    public IReadOnlyList<BrokerNode> Nodes { get; init; } = [];

    /// <summary>The type of every queue SyncWorker declares (<c>RabbitMq:QueueType</c>).</summary>
    public QueueType QueueType { get; init; } = QueueType.Classic;

    /// <summary>The confirmed channels a receiver publishes on (<c>RabbitMq:PublisherChannels</c>).</summary>
    public int PublisherChannels { get; init; } = RabbitMqClusterSettings.DefaultPublisherChannels;

    /// <summary>The channels asked for on each connection (<c>RabbitMq:ChannelMax</c>); the broker may grant fewer.</summary>
    public int ChannelMax { get; init; } = RabbitMqClusterSettings.DefaultChannelMax;

    /// <summary>Chooses the transport from configuration; throws with a message naming the key and the fix.</summary>
    public static MessagingTransport Resolve(IConfiguration configuration, IHostEnvironment environment)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(environment);

        var kindText = configuration[$"{MessagingOptions.Section}:Transport"];
        var kind = TransportKind.Auto;
        if (!string.IsNullOrWhiteSpace(kindText) && !Enum.TryParse(kindText, ignoreCase: true, out kind))
        {
            throw new MessagingConfigurationException(
                $"Messaging:Transport is '{kindText}'; use Auto, RabbitMq or InMemory.");
        }

        var uriText = configuration[$"{RabbitMqOptions.Section}:Uri"];
        var connectionName = configuration[$"{RabbitMqOptions.Section}:ConnectionName"] is { Length: > 0 } name ? name : "syncworker";
        var hasUri = !string.IsNullOrWhiteSpace(uriText);

        if (kind == TransportKind.InMemory || (kind == TransportKind.Auto && !hasUri))
        {
            if (kind == TransportKind.Auto && environment.IsProduction())
            {
                throw new MessagingConfigurationException(
                    "RabbitMq:Uri is not set and the environment is Production: SyncWorker will not accept events it cannot keep. " +
                    "Set RabbitMq:Uri (environment variable RabbitMq__Uri=amqp://user:password@host:5672/vhost), or set " +
                    "Messaging:Transport=InMemory to run without durability on purpose.");
            }

            return new MessagingTransport(null, connectionName);
        }

        if (!RabbitMqEndpoint.TryParse(uriText, out var endpoint, out var error))
        {
            throw new MessagingConfigurationException(
                kind == TransportKind.RabbitMq && !hasUri
                    ? "Messaging:Transport is RabbitMq but RabbitMq:Uri is not set. Set RabbitMq__Uri=amqp://user:password@host:5672/vhost."
                    : error!);
        }

        endpoint = endpoint! with { Tls = BrokerTls.Read(configuration, endpoint) };
        return new MessagingTransport(endpoint, connectionName)
        {
            Nodes = RabbitMqClusterSettings.ReadNodes(configuration, endpoint),
            QueueType = RabbitMqClusterSettings.ReadQueueType(configuration),
            PublisherChannels = RabbitMqClusterSettings.ReadPublisherChannels(configuration),
            ChannelMax = RabbitMqClusterSettings.ReadChannelMax(configuration),
        };
    }

    /// <inheritdoc />
    public override string ToString() => RabbitMq is null
        ? "in-memory (not durable)"
        : $"RabbitMQ {RabbitMq}" +
          (Nodes.Count > 1 ? $" (cluster nodes {string.Join(", ", Nodes)})" : "") +
          $", {QueueType.ToString().ToLowerInvariant()} queues";
}

/// <summary>A transport setting is invalid; the message names the key and the fix.</summary>
public sealed class MessagingConfigurationException : Exception
{
    public MessagingConfigurationException()
    {
    }

    public MessagingConfigurationException(string message)
        : base(message)
    {
    }

    public MessagingConfigurationException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

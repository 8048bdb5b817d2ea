using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using SyncWorker.Contracts;
using SyncWorker.Forwarding.Consumers;
using SyncWorker.Forwarding.Delivery;
using SyncWorker.Forwarding.Orders;
using SyncWorker.Forwarding.Targets;
using SyncWorker.Messaging;

namespace SyncWorker.Forwarding.Hosting;

/// <summary>Registers the forward stage: targets (validated at start), Stripe line items, HTTP delivery, consumers.</summary>
public static class ForwardingRegistration
{
    /// <summary>
    /// Adds the forward stage's services. Needs the manifest (<see cref="SyncWorker.Manifest.AppManifest"/> and
    /// <see cref="SyncWorker.Manifest.PermissionPolicy"/>) registered first. Consumers and endpoints are added to the bus
    /// with <see cref="AddConsumers"/> and <see cref="ConfigureEndpoints"/>.
    /// </summary>
    public static IHostApplicationBuilder AddSyncWorkerForwarding(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;

        services.AddOptions<FulfillmentOptions>().BindConfiguration(FulfillmentOptions.Section).ValidateOnStart();
        services.AddSingleton<FulfillmentOptionsValidation>();
        services.AddOptions<TargetTemplatesOptions>().BindConfiguration(TargetTemplatesOptions.Section);
        services.AddSingleton<IValidateOptions<FulfillmentOptions>>(provider => provider.GetRequiredService<FulfillmentOptionsValidation>());
        services.AddOptions<StripeApiOptions>().BindConfiguration(StripeApiOptions.Section)
            .Configure<IConfiguration>((options, configuration) => options.SandboxWebhookSecrets = StripeApiOptionsValidation.SandboxSecretKeys(configuration));

        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<TargetRegistry>();
        services.AddOptions<OrderOptions>().BindConfiguration(OrderOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<OrderOptions>, OrderOptionsValidation>();
        services.TryAddSingleton<StripeLineItemSource>();
        services.TryAddSingleton<ILineItemSource>(provider => provider.GetRequiredService<StripeLineItemSource>());
        services.TryAddSingleton<IStripeOrderLookup>(provider => provider.GetRequiredService<StripeLineItemSource>());
        services.AddSingleton(provider => new LaterActionResolver(
            provider.GetRequiredService<IStripeOrderLookup>(),
            provider.GetRequiredService<PreparationRetry>(),
            provider.GetService<SyncWorker.Store.Ledger.IOrderRegistry>()));
        services.TryAddSingleton<ITargetSender, HttpTargetSender>();
        services.AddSingleton<DeadLetterReasonFilter>();
        services.AddSingleton<PreparationRetry>();
        services.AddSingleton<TargetPauseHistory>();
        services.AddHostedService<PauseHistoryRecorder>();
        // Durable retries need a broker: the delay-queue sender exists only with RabbitMQ (BrokerAdmin).
        services.TryAddSingleton<IDelayQueueSender>(provider => new RabbitMqDelayQueueSender(
            provider.GetRequiredService<BrokerAdmin>(), provider.GetRequiredService<RabbitMqPublisher>()));
        services.AddSingleton(provider => new RedeliveryScheduler(
            provider.GetService<BrokerAdmin>() is null ? null : provider.GetRequiredService<IDelayQueueSender>(),
            provider.GetRequiredService<TargetPauseHistory>(),
            provider.GetRequiredService<TimeProvider>(),
            provider.GetRequiredService<Microsoft.Extensions.Logging.ILogger<RedeliveryScheduler>>()));
        services.AddSingleton<TargetActivity>();
        services.AddSingleton<TargetEndpointSupervisor>();
        services.AddHostedService(provider => provider.GetRequiredService<TargetEndpointSupervisor>());
        services.AddSingleton<ForwardingGauges>();
        services.AddHostedService(provider => provider.GetRequiredService<ForwardingGauges>());

        // The HTTP clients need the target list now; invalid targets still fail start through validation above.
        var targets = builder.Configuration.GetSection(FulfillmentOptions.Section).Get<FulfillmentOptions>()?.Targets ?? [];
        services.AddHttpClient();
        services.AddTargetHttpClients(targets);
        return builder;
    }

    /// <summary>
    /// Adds targets managed at run time (the admin API's <c>/admin/targets</c>, kept in the store): the service, the
    /// refresher that keeps every forwarder's <see cref="TargetRegistry"/> in step with the store, and their HTTP clients.
    /// Needs the store (<c>AddSyncWorkerStore</c>).
    /// </summary>
    public static IServiceCollection AddManagedTargets(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton(provider => new SyncWorker.Store.Audit.AuditLog(
            provider.GetRequiredService<SyncWorker.Store.Ledger.SqlDeliveryLedger>(), provider.GetRequiredService<TimeProvider>()));
        services.AddSingleton<ManagedTargetClients>();
        services.AddSingleton<Targets.Managed.ManagedTargetRefresher>();
        services.AddHostedService(provider => provider.GetRequiredService<Targets.Managed.ManagedTargetRefresher>());
        services.AddSingleton<Targets.Managed.ManagedTargets>();
        return services;
    }

    /// <summary>
    /// Adds the sweep of uninstalled accounts' dead letters (<see cref="Installs.UninstallSweeper"/>): the queue
    /// <see cref="Installs.InstallState"/> asks it through, the broker side, and the hosted service. Needs
    /// <see cref="Installs.InstallState"/> and the messaging transport registered.
    /// </summary>
    public static IServiceCollection AddUninstallSweep(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<Installs.UninstallSweepRequests>();
        services.AddSingleton<Installs.IUninstalledDeadLetterSweep, Installs.UninstalledDeadLetterSweep>();
        services.AddHostedService<Installs.UninstallSweeper>();
        return services;
    }

    /// <summary>Registers the dispatcher and the delivery consumer with the bus.</summary>
    public static void AddConsumers(IBusRegistrationConfigurator bus)
    {
        ArgumentNullException.ThrowIfNull(bus);
        bus.AddConsumer<IntakeDispatchConsumer>();
        bus.AddConsumer<TargetDeliveryConsumer>();
    }

    /// <summary>The intake endpoint (dispatcher). Target endpoints: <see cref="ConfigureTargetEndpoint"/>.</summary>
    public static void ConfigureEndpoints(IBusRegistrationContext context, IBusFactoryConfigurator cfg)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(cfg);
        cfg.ReceiveEndpoint(Topology.IntakeQueue, endpoint =>
        {
            MessagingServiceCollectionExtensions.ApplyQueueType(endpoint, context.GetRequiredService<MessagingTransport>());
            // Receivers publish MassTransit's raw JSON (RabbitMqStripeEventPublisher); MassTransit's envelope (replays, the
            // in-memory transport, older receivers) is read too, by content type.
            endpoint.UseRawJsonDeserializer(RawSerializerOptions.Default, isDefault: false);
            endpoint.PrefetchCount = 64;
            endpoint.ConcurrentMessageLimit = 16;
            // A send to a target queue can fail while the broker recovers: try again before giving the event up to
            // syncworker.intake_error (from where it can be replayed).
            endpoint.UseMessageRetry(retry => retry.Exponential(5, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(400)));
            endpoint.ConfigureConsumer<IntakeDispatchConsumer>(context);
        });

        // Target endpoints are connected at run time by TargetEndpointSupervisor, which honours pauses.
    }

    /// <summary>
    /// One target's endpoint: its own durable queue, concurrency limit and dead-letter queue with reasons. MassTransit
    /// retries nothing here: HTTP retries happen in the target's Polly pipeline and durable ones through the delay
    /// queues, so retries never multiply.
    /// </summary>
    public static void ConfigureTargetEndpoint(IRegistrationContext context, IReceiveEndpointConfigurator endpoint, TargetRoute route)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(route);
        var deadLetterReason = context.GetRequiredService<DeadLetterReasonFilter>();
        endpoint.ConfigureConsumeTopology = false;
        MessagingServiceCollectionExtensions.ApplyQueueType(endpoint, context.GetRequiredService<MessagingTransport>());
        // The dispatcher and redeliveries send DeliveryMessages (body as it is posted, metadata in headers) through
        // RabbitMqPublisher; MassTransit's raw JSON and its envelope (the in-memory transport, deliveries queued by earlier
        // versions) are read too, by content type.
        endpoint.AddDeserializer(DeliveryMessageDeserializer.Factory);
        endpoint.UseRawJsonDeserializer(RawSerializerOptions.Default, isDefault: false);
        endpoint.PrefetchCount = route.Options.MaxConcurrency * 2;
        endpoint.ConcurrentMessageLimit = route.Options.MaxConcurrency;
        endpoint.ConfigureError(error =>
        {
            error.UseFilter(deadLetterReason);
            error.UseFilter(new MassTransit.Middleware.ErrorTransportFilter());
        });
        endpoint.ConfigureConsumer<TargetDeliveryConsumer>(context);
    }
}

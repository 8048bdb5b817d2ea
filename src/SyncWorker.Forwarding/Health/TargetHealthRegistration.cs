using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SyncWorker.Forwarding.Targets;
using SyncWorker.Messaging;
using SyncWorker.Store.Hosting;
using SyncWorker.Store.Targets;

namespace SyncWorker.Forwarding.Health;

/// <summary>Registers disabling targets after failing: <c>Notifications:*</c> (validated at start), the notifier, the monitor.</summary>
public static class TargetHealthRegistration
{
    /// <summary>
    /// Adds <see cref="TargetHealthMonitor"/> and <see cref="OpsNotifier"/>. Needs the store (<c>AddSyncWorkerStore</c>),
    /// the forward stage and the manifest. The disable markers are RabbitMQ queues (<see cref="BrokerDisableMarkers"/>)
    /// unless another <see cref="ITargetDisableMarkers"/> was registered first.
    /// </summary>
    public static IServiceCollection AddTargetHealth(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddOptions<NotificationOptions>().BindConfiguration(NotificationOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<NotificationOptions>, NotificationOptionsValidation>();
        services.AddHttpClient(OpsNotifier.ClientName, client => client.Timeout = TimeSpan.FromSeconds(10));
        services.AddSingleton<OpsNotifier>();
        services.TryAddSingleton<ITargetDisableMarkers>(provider =>
            provider.GetService<BrokerAdmin>() is { } admin ? new BrokerDisableMarkers(admin) : new NoDisableMarkers());
        services.AddSingleton(provider => new TargetHealthMonitor(
            provider.GetRequiredService<TargetRegistry>(),
            provider.GetRequiredService<SqlTargetHealth>(),
            provider.GetRequiredService<ITargetDisableMarkers>(),
            provider.GetRequiredService<OpsNotifier>(),
            provider.GetRequiredService<TimeProvider>(),
            provider.GetRequiredService<ILogger<TargetHealthMonitor>>(),
            () => provider.GetRequiredService<StoreMonitor>().IsAvailable,
            provider.GetService<Consumers.TargetActivity>()));
        services.AddHostedService(provider => provider.GetRequiredService<TargetHealthMonitor>());
        return services;
    }
}

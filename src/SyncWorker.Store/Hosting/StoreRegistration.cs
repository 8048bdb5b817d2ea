using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using SyncWorker.Store.Installs;
using SyncWorker.Store.Ledger;
using SyncWorker.Store.Retention;

namespace SyncWorker.Store.Hosting;

/// <summary>How this instance uses the store, from its <c>Worker:Role</c>.</summary>
/// <param name="RoleName">The role's name, for messages (<c>All</c>, <c>Receiver</c>, <c>Forwarder</c>).</param>
/// <param name="SplitRole">True for <c>Receiver</c> or <c>Forwarder</c>: a deployment of several instances.</param>
/// <param name="Receives">True when the instance answers Stripe: a store problem must not fail its readiness.</param>
public sealed record StoreRole(string RoleName, bool SplitRole, bool Receives);

/// <summary>Registers the store: settings validated at start, the migrator, the ledger, the monitor and its health entry, and the retention purge.</summary>
public static class StoreRegistration
{
    /// <summary>The health entry's name.</summary>
    public const string HealthCheckName = "store";

    /// <summary>
    /// Adds the store. Its settings are validated with the other options at start (<see cref="StoreSettings.Resolve"/>);
    /// SQLite with a split role in Production is refused (SQLite is one instance's file). The store is migrated in the
    /// background by <see cref="StoreMonitor"/>: nothing at start waits for it.
    /// </summary>
    public static IHostApplicationBuilder AddSyncWorkerStore(this IHostApplicationBuilder builder, StoreRole role)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(role);
        var services = builder.Services;
        var configuration = builder.Configuration;
        var environment = builder.Environment;
        services.AddOptions<StoreValidation>().ValidateOnStart();
        services.AddSingleton<IValidateOptions<StoreValidation>>(new StoreValidator(configuration, environment, role));
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(_ => StoreSettings.Resolve(configuration, environment.ContentRootPath));
        services.AddSingleton<StoreMigrator>();
        // One instance for both: on SQLite its operations take turns (see SqlDeliveryLedger).
        services.AddSingleton<SqlDeliveryLedger>();
        // Claims and finishes of concurrent deliveries are written together (see BatchingDeliveryLedger).
        services.AddSingleton<BatchingDeliveryLedger>();
        services.AddSingleton<IDeliveryLedger>(provider => provider.GetRequiredService<BatchingDeliveryLedger>());
        // Not before the monitor found the store migrated: a paid order dispatched while the migration still runs at start
        // would meet no table (see MonitoredOrderRegistry).
        services.AddSingleton<IOrderRegistry>(provider => new MonitoredOrderRegistry(
            provider.GetRequiredService<SqlDeliveryLedger>(), provider.GetRequiredService<StoreMonitor>()));
        services.AddSingleton<SqlInstallRegistry>();
        services.AddSingleton<IInstallRegistry>(provider => new MonitoredInstallRegistry(
            provider.GetRequiredService<SqlInstallRegistry>(), provider.GetRequiredService<StoreMonitor>()));
        services.AddSingleton<StoreMonitor>();
        services.AddHostedService(provider => provider.GetRequiredService<StoreMonitor>());
        services.AddSingleton(provider => new Targets.SqlTargetStore(
            provider.GetRequiredService<SqlDeliveryLedger>(),
            provider.GetRequiredService<TimeProvider>(),
            Targets.SecretBox.FromConfiguration(configuration, environment.ContentRootPath)));
        services.AddSingleton<Targets.SqlTargetHealth>();
        services.AddSingleton<StorePurger>();
        services.AddSingleton<AccountPurger>();
        services.AddSingleton<StoreRetentionService>();
        services.AddHostedService(provider => provider.GetRequiredService<StoreRetentionService>());
        services.AddHealthChecks().Add(new HealthCheckRegistration(
            HealthCheckName,
            provider => new StoreHealthCheck(provider.GetRequiredService<StoreMonitor>(), role.Receives),
            HealthStatus.Unhealthy,
            ["ready"]));
        return builder;
    }

    /// <summary>The anchor of the store's start-up validation (the settings themselves are read by <see cref="StoreSettings"/>).</summary>
    internal sealed class StoreValidation;

    private sealed class StoreValidator(IConfiguration configuration, IHostEnvironment environment, StoreRole role) : IValidateOptions<StoreValidation>
    {
        public ValidateOptionsResult Validate(string? name, StoreValidation options)
        {
            StoreSettings settings;
            try
            {
                settings = StoreSettings.Resolve(configuration, environment.ContentRootPath);
                _ = Targets.SecretBox.FromConfiguration(configuration, environment.ContentRootPath);
            }
            catch (StoreConfigurationException exception)
            {
                return ValidateOptionsResult.Fail(exception.Message);
            }

            if (settings.Provider == StoreProvider.Sqlite && role.SplitRole && environment.IsProduction())
            {
                return ValidateOptionsResult.Fail(
                    $"Store:Provider is Sqlite (the default) while Worker:Role is {role.RoleName}: SQLite is one instance's file, and split roles " +
                    "mean several instances sharing one ledger. Set Store:Provider=Postgres and Store:ConnectionString, or run a single instance with Worker:Role All.");
            }

            return ValidateOptionsResult.Success;
        }
    }

    /// <summary>
    /// The <c>store</c> entry of <c>/health/ready</c>: Healthy while the store is migrated and reachable. When it is not,
    /// a forwarder-only instance is Degraded (503); an instance that receives stays Healthy with the problem in the
    /// description, because Stripe's webhooks must go on being answered whatever the store does.
    /// </summary>
    private sealed class StoreHealthCheck(StoreMonitor monitor, bool receives) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            if (monitor.IsAvailable)
            {
                return Task.FromResult(HealthCheckResult.Healthy(monitor.Description));
            }

            var description = monitor.Problem;
            return Task.FromResult(receives
                ? HealthCheckResult.Healthy(description + " (reported only: this instance receives webhooks, which go on)")
                : HealthCheckResult.Degraded(description));
        }
    }
}

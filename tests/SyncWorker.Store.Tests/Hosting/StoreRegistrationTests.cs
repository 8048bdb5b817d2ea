using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SyncWorker.Store.Hosting;
using SyncWorker.Store.Ledger;
using SyncWorker.Testing;

namespace SyncWorker.Store.Tests.Hosting;

public sealed class StoreRegistrationTests
{
    private static readonly StoreRole Forwarder = new("Forwarder", SplitRole: true, Receives: false);
    private static readonly StoreRole All = new("All", SplitRole: false, Receives: true);

    private static IHost Build(Dictionary<string, string?> settings, StoreRole role, string environment = "Production")
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = environment, DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddMetrics();
        builder.AddSyncWorkerStore(role);
        return builder.Build();
    }

    private static List<string> StartupProblems(IHost host)
    {
        try
        {
            host.Services.GetService<IStartupValidator>()?.Validate();
            return [];
        }
        catch (OptionsValidationException failure)
        {
            return failure.Failures.ToList();
        }
    }

    [Test]
    public void Sqlite_with_a_split_role_in_production_is_refused_with_the_reason_and_the_fix()
    {
        using var host = Build(new() { ["Store:DataDirectory"] = Path.GetTempPath() }, Forwarder);

        var problems = StartupProblems(host);
        Assert.That(problems, Has.Count.EqualTo(1));
        Assert.That(problems[0], Does.Contain("Store:Provider is Sqlite").And.Contain("Worker:Role is Forwarder").And.Contain("Store:Provider=Postgres"));
    }

    [Test]
    public void Sqlite_is_accepted_for_one_instance_in_production_and_for_a_split_role_outside_it()
    {
        using var single = Build(new() { ["Store:DataDirectory"] = Path.GetTempPath() }, All);
        using var development = Build(new() { ["Store:DataDirectory"] = Path.GetTempPath() }, Forwarder, "Development");
        Assert.That(StartupProblems(single), Is.Empty);
        Assert.That(StartupProblems(development), Is.Empty);
    }

    [Test]
    public void A_bad_store_setting_is_reported_at_start_with_the_other_options()
    {
        using var host = Build(new() { ["Store:Provider"] = "Postgres" }, All);
        Assert.That(StartupProblems(host), Has.One.Contains("Store:ConnectionString is required"));
    }

    [Test]
    public async Task The_monitor_migrates_in_the_background_reports_an_outage_and_sees_the_store_come_back()
    {
        await using var postgres = await PostgresServer.LaunchAsync();
        var connectionString = await postgres.CreateDatabaseAsync("monitor");
        using var host = Build(new() { ["Store:Provider"] = "Postgres", ["Store:ConnectionString"] = connectionString }, Forwarder);
        await host.StartAsync();
        var monitor = host.Services.GetRequiredService<StoreMonitor>();
        var health = host.Services.GetRequiredService<HealthCheckService>();

        await monitor.FirstReady.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.That(monitor.IsAvailable, Is.True);
        Assert.That(await host.Services.GetRequiredService<StoreMigrator>().CurrentVersionAsync(CancellationToken.None), Is.EqualTo(StoreMigrator.LatestVersion));
        var ready = await health.CheckHealthAsync(r => r.Name == StoreRegistration.HealthCheckName);
        Assert.That(ready.Status, Is.EqualTo(HealthStatus.Healthy));

        await postgres.StopAsync();
        Assert.That(await Eventually.TrueAsync(() => !monitor.IsAvailable, TimeSpan.FromSeconds(30)), Is.True, "the outage is noticed");
        var down = await health.CheckHealthAsync(r => r.Name == StoreRegistration.HealthCheckName);
        Assert.That(down.Status, Is.EqualTo(HealthStatus.Degraded), "a forwarder-only instance is not ready without its store");
        Assert.That(down.Entries[StoreRegistration.HealthCheckName].Description, Does.Contain("PostgreSQL 127.0.0.1:"));
        Assert.ThrowsAsync<StoreUnavailableException>(() => host.Services.GetRequiredService<IDeliveryLedger>().GetAsync("t/event/evt_1", CancellationToken.None));

        await postgres.StartAsync();
        Assert.That(await Eventually.TrueAsync(() => monitor.IsAvailable, TimeSpan.FromSeconds(30)), Is.True, "back on its own");
        await host.StopAsync();
    }

    [Test]
    public async Task An_instance_that_receives_stays_ready_while_its_store_is_unreachable()
    {
        using var host = Build(new()
        {
            ["Store:Provider"] = "Postgres",
            ["Store:ConnectionString"] = "Host=127.0.0.1;Port=1;Database=none;Username=x;Password=pw-never-shown;Timeout=1",
        }, All);
        await host.StartAsync();
        var monitor = host.Services.GetRequiredService<StoreMonitor>();
        Assert.That(await Eventually.TrueAsync(() => monitor.Problem.Length > 0 && monitor.Problem != "not checked yet", TimeSpan.FromSeconds(30)), Is.True);

        var report = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(r => r.Name == StoreRegistration.HealthCheckName);
        Assert.That(report.Status, Is.EqualTo(HealthStatus.Healthy));
        Assert.That(report.Entries[StoreRegistration.HealthCheckName].Description, Does.Contain("could not be migrated").And.Contain("reported only").And.Not.Contain("pw-never-shown"));
        await host.StopAsync();
    }

    [Test]
    public void The_store_brings_its_background_retention_purge()
    {
        using var host = Build(new() { ["Store:DataDirectory"] = Path.GetTempPath() }, All);

        Assert.That(host.Services.GetServices<IHostedService>().OfType<SyncWorker.Store.Retention.StoreRetentionService>().Count(), Is.EqualTo(1));
        Assert.That(host.Services.GetRequiredService<IDeliveryLedger>(), Is.SameAs(host.Services.GetRequiredService<BatchingDeliveryLedger>()),
            "deliveries' claims and finishes are batched");
    }

    [Test]
    public async Task The_order_registry_reports_the_store_unavailable_until_the_monitor_has_migrated_it_then_records()
    {
        // A paid order can be dispatched while the background migration still runs at start: the registry must then say
        // "unavailable" (its callers go on without it), not fail on a table that does not exist yet.
        var folder = Path.Combine(Path.GetTempPath(), "syncworker-store-tests", "registry-" + Guid.NewGuid().ToString("N")[..12]);
        // The folder exists (as it does once the migration has begun), so the database file opens and has no tables.
        Directory.CreateDirectory(folder);
        using var host = Build(new() { ["Store:DataDirectory"] = folder }, All);
        var registry = host.Services.GetRequiredService<IOrderRegistry>();
        var order = new OrderRecord("cs_test_registry_before_migration", "pi_registry_before_migration", "acct_1", false, "evt_1", "{}"u8.ToArray());

        Assert.ThrowsAsync<StoreUnavailableException>(() => registry.RecordAsync(order, CancellationToken.None), "not migrated yet");
        Assert.ThrowsAsync<StoreUnavailableException>(() => registry.FindByPaymentIntentAsync("pi_registry_before_migration", CancellationToken.None));

        await host.StartAsync();
        await host.Services.GetRequiredService<StoreMonitor>().FirstReady.WaitAsync(TimeSpan.FromSeconds(60));
        await registry.RecordAsync(order, CancellationToken.None);
        Assert.That((await registry.FindByPaymentIntentAsync("pi_registry_before_migration", CancellationToken.None))?.OrderId, Is.EqualTo(order.OrderId));
        await host.StopAsync();
    }
}

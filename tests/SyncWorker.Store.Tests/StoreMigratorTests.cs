using Microsoft.Extensions.Configuration;
using SyncWorker.Store.Ledger;
using System.Data.Common;

namespace SyncWorker.Store.Tests;

[TestFixture(StoreProvider.Sqlite)]
[TestFixture(StoreProvider.Postgres)]
public sealed class StoreMigratorTests(StoreProvider provider)
{
    [Test]
    public async Task An_empty_database_is_migrated_to_this_version_and_a_second_run_changes_nothing()
    {
        var settings = await StoreDatabases.NewAsync(provider);
        var migrator = new StoreMigrator(settings);
        Assert.That(await migrator.CurrentVersionAsync(CancellationToken.None), Is.Zero);

        var first = await migrator.MigrateAsync(CancellationToken.None);
        Assert.That(first, Is.EqualTo(new MigrationResult(0, StoreMigrator.LatestVersion)));
        Assert.That(first.Applied, Is.True);
        Assert.That(await TablesAsync(settings), Is.SupersetOf(new[] { "deliveries", "delivery_attempts" }));

        var second = await migrator.MigrateAsync(CancellationToken.None);
        Assert.That(second, Is.EqualTo(new MigrationResult(StoreMigrator.LatestVersion, StoreMigrator.LatestVersion)));
        Assert.That(second.Applied, Is.False);
    }

    [Test]
    public async Task A_store_at_the_previous_version_is_migrated_keeping_its_ledger_rows()
    {
        var settings = await StoreDatabases.NewAsync(provider);
        var migrator = new StoreMigrator(settings);
        Assert.That(await migrator.MigrateToAsync(1, CancellationToken.None), Is.EqualTo(new MigrationResult(0, 1)));
        // A row as version 1 wrote it (no progress column yet).
        await ExecuteAsync(settings, "INSERT INTO deliveries (delivery_key, target, subject, action, event_id, webhook_id, state, attempts, repeats_suppressed, created_at, updated_at, delivered_at) " +
            "VALUES ('wms/order.paid/cs_1', 'wms', 'cs_1', 'order.paid', 'evt_1', 'msg_1', 'delivered', 1, 0, 1, 2, 2)");
        Assert.That(await TablesAsync(settings), Does.Not.Contain("orders"));

        var upgrade = await migrator.MigrateAsync(CancellationToken.None);

        Assert.That(upgrade, Is.EqualTo(new MigrationResult(1, StoreMigrator.LatestVersion)));
        Assert.That(await TablesAsync(settings), Does.Contain("orders"));
        using var ledger = new SqlDeliveryLedger(settings, TimeProvider.System);
        var row = await ledger.GetAsync("wms/order.paid/cs_1", CancellationToken.None);
        Assert.That((row!.State, row.Progress), Is.EqualTo((DeliveryState.Delivered, (long?)null)));
        var again = await ledger.ClaimAsync(new DeliveryClaim(DeliveryKey.ForOrder("wms", "cs_1", "order.paid"), "evt_2", "msg_1"), "f", TimeSpan.FromMinutes(5), false, CancellationToken.None);
        Assert.That(again.Outcome, Is.EqualTo(ClaimOutcome.AlreadyDone), "what version 1 delivered stays delivered");
    }

    [Test]
    public async Task Instances_starting_together_migrate_once()
    {
        var settings = await StoreDatabases.NewAsync(provider);
        var results = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Task.Run(() => new StoreMigrator(settings).MigrateAsync(CancellationToken.None))));
        Assert.That(results.Count(r => r.Applied), Is.EqualTo(1), "exactly one instance applied the migrations");
        Assert.That(results.All(r => r.To == StoreMigrator.LatestVersion), Is.True);
        Assert.That(await new StoreMigrator(settings).CurrentVersionAsync(CancellationToken.None), Is.EqualTo(StoreMigrator.LatestVersion));
    }

    [Test]
    public async Task A_store_migrated_by_a_newer_version_is_refused_not_migrated_down()
    {
        var settings = await StoreDatabases.NewAsync(provider);
        var migrator = new StoreMigrator(settings);
        await migrator.MigrateAsync(CancellationToken.None);
        await ExecuteAsync(settings, "INSERT INTO \"VersionInfo\" (\"Version\", \"AppliedOn\", \"Description\") VALUES (999, CURRENT_TIMESTAMP, 'from the future')");
        await ExecuteAsync(settings, $"UPDATE {StoreMigrator.CompatibilityTable} SET oldest_compatible_version = 999");

        var refused = Assert.ThrowsAsync<StoreSchemaException>(() => migrator.MigrateAsync(CancellationToken.None));
        Assert.That(refused!.Message, Does.Contain("schema version 999").And.Contain("newer than this SyncWorker's"));
        Assert.That(await TablesAsync(settings), Does.Contain("deliveries"), "nothing was dropped");
    }

    [Test]
    public async Task A_store_a_newer_version_migrated_additively_is_used_as_it_is_during_a_rolling_upgrade()
    {
        var settings = await StoreDatabases.NewAsync(provider);
        var migrator = new StoreMigrator(settings);
        await migrator.MigrateAsync(CancellationToken.None);
        // A version of the future: an additive migration, which leaves the oldest compatible version where it was.
        var future = StoreMigrator.LatestVersion + 1;
        await ExecuteAsync(settings, $"INSERT INTO \"VersionInfo\" (\"Version\", \"AppliedOn\", \"Description\") VALUES ({future}, CURRENT_TIMESTAMP, 'additive, from the future')");

        var result = await migrator.MigrateAsync(CancellationToken.None);

        Assert.That((result.From, result.To), Is.EqualTo((future, future)), "nothing migrated, nothing refused");
        Assert.That(await migrator.CurrentVersionAsync(CancellationToken.None), Is.EqualTo(future));
    }

    [Test]
    public async Task An_unreachable_store_is_reported_as_unavailable_with_where_it_is()
    {
        var settings = provider == StoreProvider.Postgres
            ? Settings(new() { ["Store:Provider"] = "Postgres", ["Store:ConnectionString"] = "Host=127.0.0.1;Port=1;Database=none;Username=x;Password=secret-pw;Timeout=2" })
            : Settings(new() { ["Store:ConnectionString"] = "Data Source=/proc/syncworker-cannot-be-here/ledger.db" });
        var refused = Assert.ThrowsAsync<StoreUnavailableException>(() => new StoreMigrator(settings).MigrateAsync(CancellationToken.None));
        Assert.That(refused!.Message, Does.Contain(settings.Description));
        Assert.That(refused.Message, Does.Not.Contain("secret-pw"));
    }

    private static StoreSettings Settings(Dictionary<string, string?> values) =>
        StoreSettings.Resolve(new ConfigurationBuilder().AddInMemoryCollection(values).Build(), AppContext.BaseDirectory);

    private static async Task<List<string>> TablesAsync(StoreSettings settings)
    {
        await using var connection = settings.CreateConnection();
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = settings.Provider == StoreProvider.Postgres
            ? "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
            : "SELECT name FROM sqlite_master WHERE type = 'table'";
        var tables = new List<string>();
        await using DbDataReader reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            tables.Add(reader.GetString(0));
        }

        return tables;
    }

    private static async Task ExecuteAsync(StoreSettings settings, string sql)
    {
        await using var connection = settings.CreateConnection();
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }
}
